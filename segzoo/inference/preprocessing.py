"""Kept for imports written before ``Preprocessing`` moved to :mod:`segzoo.data.preprocessing` (below the models,
so that ``SegmentationModel.transforms()`` can build it); use ``model.transforms()`` or that module."""

from segzoo.data.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, parse_resize

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Preprocessing", "parse_resize"]
