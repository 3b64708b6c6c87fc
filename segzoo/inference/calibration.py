"""Which images calibrate ``--precision int8``, from the options of ``segzoo eval``, ``bench``, ``predict`` and
``export``: shared by the command modules and the catalog-wide bench (:mod:`segzoo.evaluation.zoo`), so that no
library module imports a command module."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import segzoo
from segzoo.errors import SegzooError
from segzoo.inference.defaults import DEFAULT_CALIBRATION_SPLIT

__all__ = ["calibration_from_args"]


def calibration_from_args(args: argparse.Namespace, *, evaluated: bool = False) -> Any:
    """The calibration dataset for ``--precision int8`` (``None`` otherwise). ``evaluated``: the command evaluates
    ``--dataset``/``--root``/``--split``, which calibration then defaults to, on another split, and refuses to use."""
    if getattr(args, "precision", None) != "int8":
        return None
    name = args.calibration_dataset or (args.dataset if evaluated else None)
    if name is None:
        raise SegzooError(
            "--precision int8 needs calibration images: --calibration-dataset NAME --calibration-root "
            "PATH (e.g. the training split of the data the model was trained on)"
        )
    same = evaluated and name == args.dataset
    root = args.calibration_root or (args.root if same else None)
    split = args.calibration_split or DEFAULT_CALIBRATION_SPLIT
    options = dict(getattr(args, "dataset_option", None) or []) if same else {}
    if same and split == args.split and _same_folder(root, args.root) and not args.calibrate_on_evaluated:
        raise SegzooError(
            f"int8 calibration would use the evaluated images ({name} {split}); calibrate on another "
            f"split (--calibration-split, default {DEFAULT_CALIBRATION_SPLIT}) or pass "
            "--calibrate-on-evaluated"
        )
    return segzoo.create_dataset(name, root, split, **options)


def _same_folder(a: str | None, b: str | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and Path(a).resolve() == Path(b).resolve())
