"""segzoo's plugin contract on everything segzoo-fpn registers, on ResNet-18."""

from __future__ import annotations

from segzoo.testing import contract


@contract.parametrize_with_checks("segzoo-fpn", encoder="resnet18", hub=False)
def test_contract(check):
    check()
