"""Evaluation and benchmarking: ``evaluate`` a model on a dataset split, ``run_bench`` several models, write a
leaderboard and a plot. ``import segzoo.evaluation`` is cheap; torch is imported when a name is first used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "evaluate": "segzoo.evaluation.evaluate",
    "check_classes": "segzoo.evaluation.evaluate",
    "prepare_split": "segzoo.evaluation.evaluate",
    "bench_model": "segzoo.evaluation.bench",
    "run_bench": "segzoo.evaluation.bench",
    "count_gmacs": "segzoo.evaluation.bench",
    "fingerprint": "segzoo.evaluation.fingerprint",
    "leaderboard_markdown": "segzoo.evaluation.report",
    "plot_accuracy_latency": "segzoo.evaluation.report",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from segzoo.evaluation.bench import bench_model, count_gmacs, run_bench
    from segzoo.evaluation.evaluate import check_classes, evaluate, prepare_split
    from segzoo.evaluation.fingerprint import fingerprint
    from segzoo.evaluation.report import leaderboard_markdown, plot_accuracy_latency


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segzoo.evaluation' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
