"""segzoo's plugin contract on everything segzoo-segnet registers: SegNet on the smallest VGG at small sizes
(full-resolution convolutions), and its encoders (ONNX export and torch.compile are marked slow)."""

from __future__ import annotations

import pytest

from segzoo.testing import contract

SLOW = pytest.mark.slow


@contract.parametrize_with_checks(
    "segzoo-segnet",
    hub=False,
    marks={"compile": SLOW, "onnx": SLOW},
    settings={"segnet": {"encoder": "vgg11_bn_segnet", "sizes": ((32, 32), (64, 96), (35, 45))}},
)
def test_contract(check):
    check()
