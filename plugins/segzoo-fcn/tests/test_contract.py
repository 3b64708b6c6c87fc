"""segzoo's plugin contract on everything segzoo-fcn registers, on ResNet-18 (FCN's ONNX export and
torch.compile are marked slow; FCN-8s's run always)."""

from __future__ import annotations

import pytest

from segzoo.testing import contract

SLOW = pytest.mark.slow


@contract.parametrize_with_checks(
    "segzoo-fcn",
    encoder="resnet18",
    hub=False,
    marks={"architecture:fcn(resnet18):compile": SLOW, "architecture:fcn(resnet18):onnx": SLOW},
)
def test_contract(check):
    check()
