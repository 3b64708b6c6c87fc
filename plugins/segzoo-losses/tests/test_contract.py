"""segzoo's plugin contract on every loss segzoo-losses registers (the combined loss with two terms)."""

from __future__ import annotations

from segzoo.testing import contract


@contract.parametrize_with_checks(
    "segzoo-losses", settings={"combined": {"options": {"losses": {"cross_entropy": 1.0, "dice": 0.5}}}}
)
def test_contract(check):
    check()
