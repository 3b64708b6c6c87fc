"""segzoo's plugin contract on everything segzoo-pspnet registers, on ResNet-18 (ONNX export and
torch.compile are marked slow)."""

from __future__ import annotations

import pytest

from segzoo.testing import contract

SLOW = pytest.mark.slow


@contract.parametrize_with_checks("segzoo-pspnet", encoder="resnet18", hub=False, marks={"compile": SLOW, "onnx": SLOW})
def test_contract(check):
    check()
