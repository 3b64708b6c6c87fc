"""Segmentation datasets for segzoo, read from their original on-disk layouts.

Use them through ``segzoo.create_dataset(name, root, split, transform=..., **options)`` or directly::

    from segzoo_datasets import CamVid
    ds = CamVid("/data/CamVid", "train")

The classes are imported on first use (they need torch); importing the package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_CLASSES = {
    "ADE20K": "segzoo_datasets.ade20k",
    "CamVid": "segzoo_datasets.camvid",
    "CHASEDB1": "segzoo_datasets.retina",
    "Cityscapes": "segzoo_datasets.cityscapes",
    "DRIVE": "segzoo_datasets.drive",
    "FolderDataset": "segzoo_datasets.folder",
    "HRF": "segzoo_datasets.retina",
    "ISBI2012": "segzoo_datasets.isbi",
    "STARE": "segzoo_datasets.retina",
    "Shapes": "segzoo_datasets.shapes",
    "VOC2012": "segzoo_datasets.voc",
}
__all__ = ["ADE20K", "CHASEDB1", "DRIVE", "HRF", "ISBI2012", "STARE", "VOC2012", "CamVid", "Cityscapes",
           "FolderDataset", "Shapes"]

if TYPE_CHECKING:  # pragma: no cover
    from segzoo_datasets.ade20k import ADE20K
    from segzoo_datasets.camvid import CamVid
    from segzoo_datasets.cityscapes import Cityscapes
    from segzoo_datasets.drive import DRIVE
    from segzoo_datasets.folder import FolderDataset
    from segzoo_datasets.isbi import ISBI2012
    from segzoo_datasets.retina import CHASEDB1, HRF, STARE
    from segzoo_datasets.shapes import Shapes
    from segzoo_datasets.voc import VOC2012


def __getattr__(name: str) -> Any:
    module = _CLASSES.get(name)
    if module is None:
        raise AttributeError(f"module 'segzoo_datasets' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
