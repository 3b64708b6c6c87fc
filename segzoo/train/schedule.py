"""Per-iteration learning-rate schedules: poly / cosine / constant, times a linear warm-up.

The learning rate of optimizer step ``i`` (0-based) of ``T`` in a parameter group with base rate ``base`` is::

    base * main(i) * warmup(i)

    main(i)   = r + (1 - r) * (1 - i / T) ** power             poly
              = r + (1 - r) * (1 + cos(pi * i / T)) / 2          cosine
              = 1                                                constant
    warmup(i) = s + (1 - s) * i / W   for i < W, else 1          (W = warmup_iters, s = warmup_start_factor)

with ``r = min_lr_ratio``. The warm-up multiplies the decaying schedule (as mmsegmentation's warm-up does), so the
two join continuously at ``i = W``. The schedule is a pure function of ``i``: resuming only needs the iteration.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["LRSchedule", "lr_factor"]


def lr_factor(
    iteration: int,
    total_iters: int,
    *,
    schedule: str = "poly",
    poly_power: float = 0.9,
    min_lr_ratio: float = 0.0,
    warmup_iters: int = 0,
    warmup_start_factor: float = 0.001,
) -> float:
    """The multiplier of the base learning rate at optimizer step ``iteration`` (0-based) of ``total_iters``."""
    if total_iters < 1:
        raise ValueError(f"total_iters must be >= 1, got {total_iters}")
    t = min(max(iteration, 0), total_iters) / total_iters
    r = min_lr_ratio
    if schedule == "poly":
        main = r + (1.0 - r) * (1.0 - t) ** poly_power
    elif schedule == "cosine":
        main = r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * t))
    elif schedule == "constant":
        main = 1.0
    else:
        raise ValueError(f"unknown schedule {schedule!r}; choose poly, cosine or constant")
    if warmup_iters > 0 and iteration < warmup_iters:
        main *= warmup_start_factor + (1.0 - warmup_start_factor) * iteration / warmup_iters
    return main


class LRSchedule:
    """Sets ``group["lr"] = group["base_lr"] * lr_factor(i, ...)`` in every group of ``optimizer`` before step i."""

    def __init__(self, optimizer: Any, total_iters: int, **options: Any) -> None:
        self.optimizer = optimizer
        self.total_iters = int(total_iters)
        self.options = dict(options)
        for group in optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
        self.iteration = 0
        lr_factor(0, self.total_iters, **self.options)  # validate the options now

    def factor(self, iteration: int) -> float:
        return lr_factor(iteration, self.total_iters, **self.options)

    def set(self, iteration: int) -> list[float]:
        """Apply the rates of step ``iteration``; returns them, one per group."""
        self.iteration = iteration
        f = self.factor(iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * f
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "total_iters": self.total_iters,
            "options": dict(self.options),
            "base_lrs": [g["base_lr"] for g in self.optimizer.param_groups],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["total_iters"] != self.total_iters or state["options"] != self.options:
            raise ValueError(
                f"the checkpoint's schedule ({state['total_iters']} iterations, {state['options']}) differs from "
                f"this run's ({self.total_iters} iterations, {self.options})"
            )
        for group, base in zip(self.optimizer.param_groups, state["base_lrs"], strict=True):
            group["base_lr"] = base
        self.set(state["iteration"])
