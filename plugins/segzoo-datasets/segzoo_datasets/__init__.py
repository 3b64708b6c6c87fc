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
    "COCOStuff10k": "segzoo_datasets.coco_stuff",
    "COCOStuff164k": "segzoo_datasets.coco_stuff",
    "CHASEDB1": "segzoo_datasets.retina",
    "Cityscapes": "segzoo_datasets.cityscapes",
    "DRIVE": "segzoo_datasets.drive",
    "FolderDataset": "segzoo_datasets.folder",
    "HRF": "segzoo_datasets.retina",
    "ISAID": "segzoo_datasets.isaid",
    "ISBI2012": "segzoo_datasets.isbi",
    "LoveDA": "segzoo_datasets.loveda",
    "PascalContext": "segzoo_datasets.pascal_context",
    "PascalContext59": "segzoo_datasets.pascal_context",
    "Potsdam": "segzoo_datasets.isprs",
    "STARE": "segzoo_datasets.retina",
    "Shapes": "segzoo_datasets.shapes",
    "VOC2012": "segzoo_datasets.voc",
    "Vaihingen": "segzoo_datasets.isprs",
}
__all__ = [
    "ADE20K",
    "CHASEDB1",
    "COCOStuff10k",
    "COCOStuff164k",
    "DRIVE",
    "HRF",
    "ISAID",
    "ISBI2012",
    "STARE",
    "VOC2012",
    "CamVid",
    "Cityscapes",
    "FolderDataset",
    "LoveDA",
    "PascalContext",
    "PascalContext59",
    "Potsdam",
    "Shapes",
    "Vaihingen",
]

if TYPE_CHECKING:  # pragma: no cover
    from segzoo_datasets.ade20k import ADE20K
    from segzoo_datasets.camvid import CamVid
    from segzoo_datasets.cityscapes import Cityscapes
    from segzoo_datasets.coco_stuff import COCOStuff10k, COCOStuff164k
    from segzoo_datasets.drive import DRIVE
    from segzoo_datasets.folder import FolderDataset
    from segzoo_datasets.isaid import ISAID
    from segzoo_datasets.isbi import ISBI2012
    from segzoo_datasets.isprs import Potsdam, Vaihingen
    from segzoo_datasets.loveda import LoveDA
    from segzoo_datasets.pascal_context import PascalContext, PascalContext59
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
