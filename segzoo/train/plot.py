"""The training-curves PNG: train loss, validation mIoU / pixel accuracy and learning rates against iterations.

matplotlib is imported lazily and used through its object-oriented API with the Agg canvas, so no GUI backend is
selected and ``pyplot``'s global state is untouched.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from segzoo.train.checkpoint import atomic_write_bytes

__all__ = ["plot_curves", "read_metrics"]


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file (blank or incomplete trailing lines are skipped)."""
    records = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _series(records: Iterable[dict[str, Any]], getter) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in records:
        try:
            y = getter(r)
        except (KeyError, TypeError):
            continue
        if y is not None:
            xs.append(r["iteration"])
            ys.append(y)
    return xs, ys


def plot_curves(records: list[dict[str, Any]], path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG of the curves in ``records`` (metrics.jsonl lines) to ``path`` atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3), dpi=80)
    FigureCanvasAgg(fig)
    ax_loss, ax_val, ax_lr = fig.subplots(1, 3)
    xs, ys = _series(records, lambda r: r["train_loss"])
    ax_loss.plot(xs, ys, marker=".", color="tab:blue")
    ax_loss.set_title("train loss")
    for key, label, color in (("mIoU", "val mIoU", "tab:green"), ("pixel_accuracy", "val pixel acc.", "tab:gray")):
        xv, yv = _series(records, lambda r, k=key: r["val"][k])
        if xv:
            ax_val.plot(xv, yv, marker=".", label=label, color=color)
    ax_val.set_title("validation")
    ax_val.set_ylim(0, 1)
    if ax_val.lines:
        ax_val.legend(loc="best", fontsize="small")
    groups = sorted({g for r in records for g in (r.get("lr") or {})})
    for group in groups:
        xl, yl = _series(records, lambda r, g=group: r["lr"][g])
        ax_lr.plot(xl, yl, label=group)
    ax_lr.set_title("learning rate (last step)")
    if groups:
        ax_lr.legend(fontsize="small")
    for ax in (ax_loss, ax_val, ax_lr):
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    path = Path(path)
    atomic_write_bytes(buf.getvalue(), path)
    return path
