"""segzoo's plugin contract on everything segzoo-hrnet registers (the smallest HRNet keeps it quick; ONNX export,
torch.compile and the W48 encoder are marked slow)."""

from __future__ import annotations

import pytest

from segzoo.testing import contract

SLOW = {"compile", "onnx"}


def _params():
    for check in contract.plugin_checks("segzoo-hrnet", encoder="hrnetv2_w18_small", hub=False):
        slow = check.name in SLOW or "w48" in check.subject
        yield pytest.param(check, id=check.id, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("check", list(_params()))
def test_contract(check):
    check()
