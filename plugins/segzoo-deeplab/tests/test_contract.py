"""segzoo's plugin contract on everything segzoo-deeplab registers, on ResNet-18 (DeepLabV3's ONNX export and
torch.compile are marked slow)."""

from __future__ import annotations

import pytest

from segzoo.testing import contract

SLOW = pytest.mark.slow


@contract.parametrize_with_checks(
    "segzoo-deeplab",
    encoder="resnet18",
    hub=False,
    marks={"architecture:deeplabv3(resnet18):compile": SLOW, "architecture:deeplabv3(resnet18):onnx": SLOW},
)
def test_contract(check):
    check()
