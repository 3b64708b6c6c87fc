"""segzoo hook implementations: registers the datasets of this package."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_datasets(register) -> None:
    from segzoo_datasets import ADE20K, DRIVE, ISBI2012, VOC2012, CamVid, Cityscapes, FolderDataset, Shapes

    for cls in (CamVid, Cityscapes, VOC2012, ADE20K, ISBI2012, DRIVE, Shapes):
        metadata = dict(
            classes=list(cls.classes),
            ignore_index=cls.ignore_index,
            splits=list(cls.splits),
            homepage=cls.homepage,
            license=cls.license,
            palette=[list(c) for c in cls.palette],
            description=(cls.__doc__ or "").strip().splitlines()[0],
        )
        if getattr(cls, "sizes", None):
            metadata["sizes"] = dict(cls.sizes)
        if getattr(cls, "hub_dataset", None):
            metadata["hub_dataset"] = cls.hub_dataset
        register(cls.name, cls, **metadata)
    register(
        "folder",
        FolderDataset,
        classes=[],
        ignore_index=255,
        splits=[],
        homepage=None,
        license=None,
        palette=[],
        description="Your own data: images/ and masks/ folders paired by file name (pass classes=[...])",
    )

