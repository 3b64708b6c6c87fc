"""Data utilities: joint image+mask transforms and the base class for segmentation datasets.

``import segzoo.data`` is cheap: :mod:`segzoo.data.transforms`, :mod:`segzoo.data.preprocessing` and
:mod:`segzoo.data.base` (which import torch) are loaded on first use of one of their names.
The datasets themselves (CamVid, Cityscapes, VOC, ADE20K, ISBI 2012, DRIVE, folders, synthetic shapes) come from the
``segzoo-datasets`` plugin: ``segzoo.create_dataset(name, root, split, transform=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segzoo._lazy import lazy_attributes

_LAZY = {
    "transforms": "segzoo.data.transforms",
    "Preprocessing": "segzoo.data.preprocessing",
    "SegmentationDataset": "segzoo.data.base",
    "DatasetError": "segzoo.data.base",
    "DatasetNotFoundError": "segzoo.data.base",
    "PairingError": "segzoo.data.base",
    "MaskValueError": "segzoo.data.base",
    "UnreadableFileError": "segzoo.data.base",
    "colorize": "segzoo.data.base",
    "decode_colors": "segzoo.data.base",
    "describe_files": "segzoo.data.base",
    "describe_values": "segzoo.data.base",
    "IMAGE_SUFFIXES": "segzoo.data.base",
    "voc_colormap": "segzoo.data.base",
    "collect_files": "segzoo.data.base",
    "pair_files": "segzoo.data.base",
    "open_image": "segzoo.data.base",
    "numeric_key": "segzoo.data.base",
}

__all__ = [
    "IMAGE_SUFFIXES",
    "DatasetError",
    "DatasetNotFoundError",
    "MaskValueError",
    "PairingError",
    "SegmentationDataset",
    "UnreadableFileError",
    "collect_files",
    "colorize",
    "decode_colors",
    "describe_files",
    "describe_values",
    "numeric_key",
    "open_image",
    "pair_files",
    "transforms",
    "voc_colormap",
]

if TYPE_CHECKING:  # pragma: no cover
    from segzoo.data import transforms
    from segzoo.data.base import (
        IMAGE_SUFFIXES,
        DatasetError,
        DatasetNotFoundError,
        MaskValueError,
        PairingError,
        SegmentationDataset,
        UnreadableFileError,
        collect_files,
        colorize,
        decode_colors,
        describe_files,
        describe_values,
        numeric_key,
        open_image,
        pair_files,
        voc_colormap,
    )


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
