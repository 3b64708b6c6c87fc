"""Evaluation and benchmarking under torchrun: which images or models this process takes, and summing the results.

``segzoo eval`` and ``segzoo bench`` join the process group that torchrun describes (:func:`session`, through
``segzoo.train.distributed``: Gloo on CPU, NCCL on CUDA). An evaluation then gives each rank the images ``rank,
rank + W, ...`` of the split (no padding, so each image counts once), and the confusion matrices are summed with
``all_reduce``: the metrics equal a one-process run's exactly. Timings stay per rank (:func:`gather_timing`), since
the ranks of one machine share its cores and their sum is not the wall time a user waited.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from segzoo.train import distributed as D

__all__ = ["gather_timing", "is_main", "my_share", "session", "shard_indices"]


@contextlib.contextmanager
def session(device: str | None) -> Iterator[D.DistInfo]:
    """Join torchrun's process group for the duration of a command (a no-op without torchrun's variables).
    Yields the :class:`~segzoo.train.distributed.DistInfo`, whose ``device`` is this rank's (``cuda:LOCAL_RANK``)."""
    info = D.setup(device or "auto")
    try:
        yield info
    finally:
        D.teardown(info)


def is_main() -> bool:
    """Rank 0 (or no process group): the one process that prints, draws progress bars and writes files."""
    return D.rank() == 0


def shard_indices(length: int) -> range:
    """This rank's share ``rank, rank + W, ...`` of ``range(length)`` (all of it in a single process)."""
    return range(D.rank(), length, D.world_size())


def my_share(items: list[Any]) -> list[Any]:
    """This rank's items, round-robin (for splitting models rather than images between ranks)."""
    return [items[i] for i in shard_indices(len(items))]


def gather_timing(timing: dict[str, Any], images: int) -> dict[str, Any]:
    """``timing`` of this rank's part of an evaluation, combined over ranks (a collective: every rank calls it).

    ``wall_s`` is the slowest rank's (what the user waited), ``images_per_s`` all images over that; ``model_s``,
    ``data_wait_s`` and ``post_s`` are summed over ranks (process-seconds) and the shares are taken against the summed
    wall times; ``ranks`` keeps each rank's own numbers and host."""
    if D.world_size() == 1:
        return timing
    mine = {
        "rank": D.rank(),
        "host": socket.gethostname(),
        "images": images,
        **{k: timing[k] for k in ("wall_s", "model_s", "data_wait_s", "post_s")},
    }
    ranks = D.all_gather_objects(mine)
    wall = max(r["wall_s"] for r in ranks)
    total = {k: sum(r[k] for r in ranks) for k in ("wall_s", "model_s", "data_wait_s", "post_s")}
    return {
        "wall_s": wall,
        "model_s": total["model_s"],
        "data_wait_s": total["data_wait_s"],
        "post_s": total["post_s"],
        "model_time_share": total["model_s"] / total["wall_s"] if total["wall_s"] > 0 else float("nan"),
        "data_time_share": total["data_wait_s"] / total["wall_s"] if total["wall_s"] > 0 else float("nan"),
        "post_time_share": total["post_s"] / total["wall_s"] if total["wall_s"] > 0 else float("nan"),
        "images_per_s": sum(r["images"] for r in ranks) / wall if wall > 0 else float("nan"),
        "world_size": len(ranks),
        "ranks": ranks,
    }
