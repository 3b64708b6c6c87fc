"""Any dataset stored as an images folder and a masks folder with matching file names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from segzoo.data import (
    IMAGE_SUFFIXES,
    DatasetError,
    DatasetNotFoundError,
    PairingError,
    SegmentationDataset,
    collect_files,
    pair_files,
)


class FolderDataset(SegmentationDataset):
    """Images and masks paired by file stem: ``images/foo.jpg`` with ``masks/foo.png``.

    Where the split comes from, first match wins:

    1. ``split=None``: ``<root>/<image_dir>`` and ``<root>/<mask_dir>`` (no splits);
    2. ``<root>/<split>/<image_dir>`` and ``<root>/<split>/<mask_dir>``;
    3. ``<root>/<image_dir>/<split>`` and ``<root>/<mask_dir>/<split>``;
    4. ``<root>/<split>.txt``: one stem per line, files in ``<root>/<image_dir>`` and ``<root>/<mask_dir>``.

    Options: ``classes`` (required: list of names, index = class id), ``image_dir="images"``,
    ``mask_dir="masks"``, ``image_suffix`` (default: any common image suffix), ``mask_suffix=".png"`` (may include a
    name part, e.g. ``"_mask.png"``), ``palette`` (default: the VOC colour map), ``ignore_index=255`` (None: no void
    value), ``label_map`` (raw value -> class id for values that are not already ids, e.g. ``{255: 1}`` for 0/255
    binary masks), ``image_mode="RGB"`` ("L" for grayscale).
    """

    name = "folder"
    splits = ()
    homepage = None
    license = None
    layout = """\
<root>/
  images/<name>.<jpg|png|...>      masks/<name>.png      (split=None)
  or <split>/images/, <split>/masks/
  or images/<split>/, masks/<split>/
  or <split>.txt listing names, with images/ and masks/"""

    def __init__(
        self,
        root,
        split: str | None = None,
        transform=None,
        *,
        classes: Sequence[str],
        image_dir: str = "images",
        mask_dir: str = "masks",
        image_suffix: str | Sequence[str] | None = None,
        mask_suffix: str = ".png",
        palette: Sequence[Sequence[int]] | None = None,
        ignore_index: int | None = 255,
        label_map: Mapping[int, int] | None = None,
        image_mode: str = "RGB",
        check_values: bool = True,
    ) -> None:
        if isinstance(classes, str) or not classes:
            raise DatasetError("folder: pass classes=[...] (the class names, index = class id)")
        self.classes = list(classes)
        if palette is not None:
            self.palette = palette
        self.ignore_index = ignore_index
        self.image_dir = image_dir
        self.mask_dir = mask_dir
        self.image_suffix = IMAGE_SUFFIXES if image_suffix is None else image_suffix
        self.mask_suffix = mask_suffix
        self.label_map = dict(label_map or {})
        self.image_mode = image_mode
        super().__init__(root, split, transform, check_values=check_values)

    def _check_split(self, split: str | None) -> None:
        pass  # any split name: resolved against the folders in find_files

    def _layouts(self) -> list[tuple[Path, Path, Path | None]]:
        r, s = self.root, self.split
        if s is None:
            return [(r / self.image_dir, r / self.mask_dir, None)]
        return [
            (r / s / self.image_dir, r / s / self.mask_dir, None),
            (r / self.image_dir / s, r / self.mask_dir / s, None),
            (r / self.image_dir, r / self.mask_dir, r / f"{s}.txt"),
        ]

    def find_files(self):
        layouts = self._layouts()
        for image_dir, mask_dir, list_file in layouts:  # noqa: B007 - the matching triple is used below
            if image_dir.is_dir() and (list_file is None or list_file.is_file()):
                break
        else:
            tried = "; ".join(f"{i} + {m}" + (f" + {lf}" if lf else "") for i, m, lf in layouts)
            what = f"split {self.split!r}" if self.split is not None else "images"
            raise DatasetNotFoundError(
                f"folder dataset: no {what} found under {self.root}; looked for {tried}.{self._where_to_get()}"
            )
        if not mask_dir.is_dir():
            raise DatasetNotFoundError(f"folder dataset: found images in {image_dir} but no mask folder {mask_dir}")
        images = collect_files(image_dir, self.image_suffix)
        masks = collect_files(mask_dir, self.mask_suffix)
        if list_file is not None:
            stems = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
            missing = [s for s in stems if s not in images]
            if missing:
                raise PairingError(
                    f"folder dataset: {len(missing)} of {len(stems)} names in {list_file} have no "
                    f"image in {image_dir}: {', '.join(missing[:10])}"
                )
            images = {s: images[s] for s in stems}
            masks = {s: masks[s] for s in stems if s in masks}
        return pair_files(
            images, masks, dataset="folder dataset", split=self.split, image_dir=image_dir, mask_dir=mask_dir
        )

    def label_mapping(self) -> dict[int, int]:
        mapping = super().label_mapping()
        mapping.update(self.label_map)
        return mapping
