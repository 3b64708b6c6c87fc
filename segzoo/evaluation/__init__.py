"""Evaluation and benchmarking: ``evaluate`` a model on a dataset split, ``run_bench`` several models, write a
leaderboard and a plot. ``import segzoo.evaluation`` is cheap; torch is imported when a name is first used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from segzoo._lazy import lazy_attributes

_LAZY = {
    "evaluate": "segzoo.evaluation.scoring",
    "check_classes": "segzoo.evaluation.scoring",
    "prepare_split": "segzoo.evaluation.scoring",
    "bench_model": "segzoo.evaluation.bench",
    "run_bench": "segzoo.evaluation.bench",
    "count_gmacs": "segzoo.evaluation.bench",
    "fingerprint": "segzoo.evaluation.environment",
    "leaderboard_markdown": "segzoo.evaluation.report",
    "plot_accuracy_latency": "segzoo.evaluation.report",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from segzoo.evaluation.bench import bench_model as bench_model
    from segzoo.evaluation.bench import count_gmacs as count_gmacs
    from segzoo.evaluation.bench import run_bench as run_bench
    from segzoo.evaluation.scoring import check_classes as check_classes
    from segzoo.evaluation.scoring import evaluate as evaluate
    from segzoo.evaluation.scoring import prepare_split as prepare_split
    from segzoo.evaluation.environment import fingerprint as fingerprint
    from segzoo.evaluation.report import leaderboard_markdown as leaderboard_markdown
    from segzoo.evaluation.report import plot_accuracy_latency as plot_accuracy_latency


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
