"""The public functions: create, load, list_models, list_architectures, info."""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path
from typing import Any

from segzoo._boundary import calling
from segzoo._factory import (  # noqa: F401 - create and create_from_config are segzoo's, re-exported here
    MAX_CLASSES,
    _unavailable,
    check_count,
    create,
    create_from_config,
)
from segzoo._plugins import registries
from segzoo._registry import Entry, check_options
from segzoo.catalog import spec
from segzoo.errors import UnknownNameError
from segzoo.hub.pinning import pin_status

log = logging.getLogger("segzoo")

HUB_PREFIX = "hf-hub:"


def list_architectures() -> list[str]:
    """Names of every registered architecture (first-party and third-party plugins)."""
    return registries().architectures.names()


def list_models(pattern: str = "*") -> list[str]:
    """Catalog names matching a shell-style ``pattern`` (e.g. ``"deeplabv3-*"``)."""
    return [name for name in registries().models.names() if fnmatch.fnmatch(name, pattern)]


def info(name: str) -> dict[str, Any]:
    """Everything the catalog knows about a pretrained model, plus which package provides it and whether it is
    usable."""
    entry = _catalog_entry(name)
    result = spec(entry.obj).to_dict()
    result["provided_by"] = entry.provider
    problem = _unavailable(entry.obj["architecture"], needed_by=entry.obj["name"], requires=entry.obj["requires"])
    result["available"] = problem is None
    # why not: {"reason": "not installed" | "broken" | "disabled" | "incompatible" | "replaced" | "unknown",
    #           "package": the package concerned, "message": one line}
    result["unavailable"] = None if problem is None else dict(zip(("reason", "package", "message"), problem))
    # pinned: what the entry loads can never change (a commit and a full sha256); pin_reason says why or why not
    result["pinned"], result["pin_reason"] = pin_status(entry.obj)
    return result


def _catalog_entry(name: str) -> Entry:
    return registries().models.get(name)


def load(ref: str | Path, *, num_classes: int | None = None, pretrained: bool = True):
    """Load a model by catalog name, ``"hf-hub:org/repo[@revision]"`` or a ``save_pretrained`` directory.

    ``num_classes`` different from the checkpoint's keeps encoder and decoder weights and gives the model a new,
    randomly initialised head (for fine-tuning); a warning says so.
    """
    from segzoo.hub import loading

    if num_classes is not None:
        check_count("num_classes", num_classes, MAX_CLASSES)  # before any download
    ref_str = str(ref)
    if ref_str.startswith(HUB_PREFIX):
        model = loading.load_from_hub(ref_str[len(HUB_PREFIX) :], pretrained=pretrained)
    elif Path(ref_str).is_dir():
        model = loading.load_from_directory(Path(ref_str), pretrained=pretrained)
    else:
        try:
            entry = _catalog_entry(ref_str)
        except UnknownNameError as err:
            if "/" in ref_str or Path(ref_str).suffix:
                raise UnknownNameError(
                    f"{ref_str!r} is neither a catalog name nor an existing directory; "
                    f"for a Hub repository write 'hf-hub:{ref_str}'"
                ) from None
            raise err
        model = loading.load_from_catalog(entry.obj, pretrained=pretrained)
    if num_classes is not None and num_classes != model.num_classes:
        old = model.num_classes
        model.reset_classes(num_classes)
        if pretrained:  # without weights there is nothing to keep, and nothing to warn about
            log.warning(
                "re-headed %s from %d to %d classes: encoder and decoder weights kept, classifier newly initialised "
                "(fine-tune before use)",
                model.config.get("name", ref_str),
                old,
                num_classes,
            )
    return model.eval()


def create_loss(name: str, **options: Any):
    """A registered loss (``segzoo.list_losses()``), called as ``loss(logits, target)``."""
    entry = registries().losses.get(name)
    check_options(f"loss {name!r}", entry.obj, options, passed_by_segzoo=())
    with calling(entry):
        return entry.obj(**options)


def create_dataset(name: str, root: str | Path, split: str = "train", **options: Any):
    """A registered dataset read from ``root`` in its original on-disk layout."""
    entry = registries().datasets.get(name)
    with calling(entry):
        return entry.obj(root, split, **options)


def list_losses() -> list[str]:
    return registries().losses.names()


def list_datasets() -> list[str]:
    return registries().datasets.names()
