"""Segmentation datasets for segzoo, read from their original on-disk layouts.

Use them through ``segzoo.create_dataset(name, root, split, transform=..., **options)`` or directly::

    from segzoo_datasets import CamVid
    ds = CamVid("/data/CamVid", "train")
"""

from segzoo_datasets.ade20k import ADE20K
from segzoo_datasets.camvid import CamVid
from segzoo_datasets.cityscapes import Cityscapes
from segzoo_datasets.drive import DRIVE
from segzoo_datasets.folder import FolderDataset
from segzoo_datasets.isbi import ISBI2012
from segzoo_datasets.shapes import Shapes
from segzoo_datasets.voc import VOC2012

__all__ = ["ADE20K", "DRIVE", "ISBI2012", "VOC2012", "CamVid", "Cityscapes", "FolderDataset", "Shapes"]
