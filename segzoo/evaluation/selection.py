"""Which catalog entries ``segzoo bench --models PATTERN...`` runs.

A pattern matches an entry by name (shell glob: ``'deeplabv3-*'``, ``'*'``), by family (its architecture:
``pspnet``), by the plugin that provides it (``segzoo-hrnet``) or by the dataset it is evaluated on (a segzoo dataset
name: ``cityscapes``). With ``--dataset D`` only the entries evaluated on ``D`` are kept: the catalog's
``dataset.name`` (or ``dataset.eval``) names it, and the class counts agree, which separates Pascal Context's 60 and
59 classes and keeps torchvision's VOC-category models, scored on COCO val2017, out of ``voc2012``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import segzoo
from segzoo._plugins import registries
from segzoo._registry import did_you_mean
from segzoo.errors import UnknownNameError

__all__ = ["Selection", "evaluated_on", "published_metric", "select_entries"]


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def evaluated_on(entry: dict[str, Any], dataset: str, num_classes: int | None) -> bool:
    """Whether the catalog ``entry`` was evaluated on the registered dataset ``dataset`` (see the module doc)."""
    info = entry.get("dataset") or {}
    text = _key(info.get("name") or info.get("eval") or "")
    if _key(dataset) not in text:
        return False
    return num_classes is None or not num_classes or int(entry["num_classes"]) == int(num_classes)


def published_metric(entry: dict[str, Any]) -> tuple[str, float] | None:
    """The entry's headline published metric in percent: mIoU, else mDice (mmseg's retina models), else None."""
    values = (entry.get("metrics") or {}).get("values") or {}
    for name in ("mIoU", "mDice"):
        if isinstance(values.get(name), (int, float)):
            return name, float(values[name])
    return None


@dataclass
class Selection:
    names: list[str] = field(default_factory=list)
    #: (name, why it is left out): plugin not installed, evaluated on another dataset
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _matches(pattern: str, entry: dict[str, Any], provider: str | None) -> bool:
    if fnmatch.fnmatchcase(entry["name"], pattern):
        return True
    if pattern in (entry["architecture"], entry.get("requires"), provider):
        return True
    return evaluated_on(entry, pattern, None) if "*" not in pattern else False


def select_entries(
    patterns: Sequence[str], *, dataset: str | None = None, num_classes: int | None = None, any_dataset: bool = False
) -> Selection:
    """The catalog names the patterns select, in catalog order, and the ones left out with the reason.

    Raises :class:`~segzoo.errors.UnknownNameError` (with the closest names) for a pattern that matches nothing."""
    entries = list(registries().models)
    chosen: dict[str, Any] = {}
    for pattern in patterns:
        hits = [e for e in entries if _matches(pattern, e.obj, e.provider)]
        if not hits:
            families = {e.obj["architecture"] for e in entries} | {e.obj["requires"] for e in entries}
            raise UnknownNameError(
                f"--models {pattern!r} matches no catalog entry (by name, family, plugin or "
                f"dataset){did_you_mean(pattern, [e.name for e in entries] + sorted(families))}"
            )
        for e in hits:
            chosen.setdefault(e.name, e)
    selection = Selection()
    for name, e in chosen.items():
        if dataset and not any_dataset and not evaluated_on(e.obj, dataset, num_classes):
            selection.skipped.append((name, f"evaluated on {e.obj['dataset']['eval']}, not {dataset}"))
            continue
        info = segzoo.info(name)
        if not info["available"]:
            selection.skipped.append((name, info["unavailable"]["message"]))
            continue
        selection.names.append(name)
    return selection
