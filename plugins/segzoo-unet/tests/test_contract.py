"""segzoo's plugin contract on everything segzoo-unet registers: U-Net on ResNet-18, the original U-Net at
small sizes (full-resolution convolutions), and its encoders (ONNX export and torch.compile are marked slow)."""

from __future__ import annotations

import pytest

from segzoo.testing import contract

SLOW = pytest.mark.slow


@contract.parametrize_with_checks(
    "segzoo-unet",
    hub=False,
    marks={"compile": SLOW, "onnx": SLOW},
    settings={"unet": {"encoder": "resnet18"}, "unet-original": {"sizes": ((32, 32), (64, 96), (35, 45))}},
)
def test_contract(check):
    check()
