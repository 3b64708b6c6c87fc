"""segzoo's plugin contract on everything segzoo-transformers registers: SegFormer on MiT-B0, UperNet on
ResNet-18, and the MiT encoders (UperNet's ONNX export and torch.compile, and the large MiTs, are marked slow)."""

from __future__ import annotations

import pytest

from segzoo.testing import contract

SLOW = pytest.mark.slow


@contract.parametrize_with_checks(
    "segzoo-transformers",
    hub=False,
    settings={"upernet": {"encoder": "resnet18"}},
    marks={
        "architecture:upernet(resnet18):compile": SLOW,
        "architecture:upernet(resnet18):onnx": SLOW,
        **{f"encoder:mit_b{i}": SLOW for i in range(2, 6)},
    },
)
def test_contract(check):
    check()
