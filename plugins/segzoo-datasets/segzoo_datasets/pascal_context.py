"""Pascal Context (VOC 2010 images, whole-scene labels) with the 60-class and the 59-class label sets."""

from __future__ import annotations

from pathlib import Path

from segzoo.data import SegmentationDataset
from segzoo_datasets._meta import info
from segzoo_datasets._mmseg_layout import (
    converter_hint,
    identity_labels,
    listed_pairs,
    read_ids,
    reduce_zero_label,
)

_INFO = info("pascal_context")


class PascalContext(SegmentationDataset):
    """Pascal Context (Mottaghi et al., CVPR 2014), 60 classes: the 59 most frequent plus background (0).

    ``root`` is ``VOCdevkit/VOC2010`` (``VOCdevkit`` or its parent are accepted too) after mmsegmentation's
    ``tools/dataset_converters/pascal_context.py`` has written ``SegmentationClassContext/<id>.png`` (values 0..59)
    and ``ImageSets/SegmentationContext/{train,val}.txt`` from the Detail API's ``trainval_merged.json``; images are
    VOC 2010's ``JPEGImages/<id>.jpg``. The original annotations (a JSON of the Detail API) are not read directly.
    Splits: train (4996), val (5104). ``pascal_context59`` reads the same files with the 59-class set.
    """

    name = "pascal_context"
    classes = _INFO["classes"]
    palette = _INFO["palette"]
    ignore_index = _INFO["ignore_index"]
    splits = tuple(_INFO["splits"])
    sizes = _INFO["sizes"]
    homepage = _INFO["homepage"]
    license = _INFO["license"]
    layout = """\
<root>/                                         (VOCdevkit/VOC2010)
  JPEGImages/<id>.jpg
  SegmentationClassContext/<id>.png             labels 0..59 (0 = background), from mmseg's pascal_context.py
  ImageSets/SegmentationContext/{train,val}.txt"""

    def __init__(self, root, split: str = "train", transform=None, *, check_values: bool = True) -> None:
        super().__init__(_voc2010_root(root), split, transform, check_values=check_values)

    def find_files(self) -> list[tuple[Path, Path]]:
        hint = converter_hint("pascal_context", "the Detail API and trainval_merged.json")
        sets = self.require_dir(
            self.root / "ImageSets" / "SegmentationContext", "the ImageSets/SegmentationContext folder", hint
        )
        image_dir = self.require_dir(self.root / "JPEGImages", "VOC 2010's JPEGImages folder")
        label_dir = self.require_dir(
            self.root / "SegmentationClassContext", "the SegmentationClassContext folder", hint
        )
        list_file = self.require_file(sets / f"{self.split}.txt", f"the id list {self.split}.txt", hint)
        return listed_pairs(self, read_ids(list_file), list_file, image_dir, ".jpg", label_dir, ".png")

    def label_mapping(self) -> dict[int, int]:
        return identity_labels(60, self.ignore_index)

    def _value_note(self) -> str:
        return " (0 background, 1..59 classes)"


class PascalContext59(PascalContext):
    """Pascal Context with 59 classes: the same files as :class:`PascalContext`, background (0) ignored and every
    other label moved down one (mmseg's ``reduce_zero_label``), as mmseg's ``PascalContextDataset59`` scores them."""

    name = "pascal_context59"
    classes = info("pascal_context59")["classes"]
    palette = info("pascal_context59")["palette"]

    def label_mapping(self) -> dict[int, int]:
        return reduce_zero_label(59, self.ignore_index)

    def _value_note(self) -> str:
        return " (0 background -> ignored, 1..59 classes)"


def _voc2010_root(root) -> Path | None:
    """Accept VOCdevkit/VOC2010 itself, VOCdevkit, or the folder holding VOCdevkit."""
    if root is None:
        return None
    root = Path(root).expanduser()
    for candidate in (root, root / "VOC2010", root / "VOCdevkit" / "VOC2010"):
        if (candidate / "JPEGImages").is_dir() or (candidate / "ImageSets").is_dir():
            return candidate
    return root
