"""Atomic checkpoints, RNG state capture, and the atomic ``save_pretrained`` export of the best model.

A checkpoint is written to a hidden temporary file in the run directory, flushed and fsync'ed, then renamed over
the target with ``os.replace`` (atomic on POSIX and Windows), and the directory is fsync'ed. A process killed at any
moment leaves either the previous complete file or the new complete file, plus at worst a stray temporary file that
:func:`clean_temporaries` removes when the run is resumed.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from segzoo.train.config import TrainingError

__all__ = [
    "LAST",
    "BEST",
    "BEST_DIR",
    "FINAL_DIR",
    "atomic_save",
    "atomic_write_bytes",
    "load_checkpoint",
    "clean_temporaries",
    "export_pretrained",
    "rng_state",
    "set_rng_state",
]

LAST = "checkpoint-last.pt"
BEST = "checkpoint-best.pt"
BEST_DIR = "best"
FINAL_DIR = "final"
FORMAT = "segzoo-train-checkpoint"
_TMP_MARK = ".tmp-"


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not supported everywhere (e.g. Windows)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(data: bytes, path: str | Path) -> None:
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj, path)`` that never leaves a truncated ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by the trainer (tensors on the CPU)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"no checkpoint at {path}") from None
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged file
        raise TrainingError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainingError(f"{path} is not a segzoo training checkpoint")
    return state


def clean_temporaries(run_dir: str | Path) -> list[Path]:
    """Remove what an interrupted write left behind; restore ``best/`` if a crash hit between its two renames."""
    run_dir = Path(run_dir)
    removed: list[Path] = []
    if not run_dir.is_dir():
        return removed
    best = run_dir / BEST_DIR
    for p in sorted(run_dir.iterdir()):
        if not p.name.startswith(".") or (_TMP_MARK not in p.name and ".old-" not in p.name):
            continue
        if p.is_dir():
            if p.name.startswith(f".{BEST_DIR}.old-") and not best.exists():
                os.replace(p, best)
                continue
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def export_pretrained(model: Any, directory: str | Path, *, model_card: str | None = None) -> Path:
    """``model.save_pretrained(directory)`` made atomic: written to a temporary folder, then swapped in."""
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}{_TMP_MARK}{os.getpid()}")
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp, model_card=model_card)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not directory.exists():
            os.replace(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(directory.parent)
    return directory


# -- RNG state --------------------------------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """This process's RNG states (Python, torch CPU and CUDA, numpy if imported), as weights_only-safe objects."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    np = sys.modules.get("numpy")
    if np is not None:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = (kind, torch.from_numpy(keys.astype("int64")), int(pos), int(has_gauss), float(cached))
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np

        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
