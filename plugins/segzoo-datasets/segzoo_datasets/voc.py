"""PASCAL VOC 2012 segmentation, optionally with the SBD augmented training set ("trainaug", 10,582 images)."""

from __future__ import annotations

from pathlib import Path

from segzoo.data import DatasetError, PairingError, SegmentationDataset, describe_files
from segzoo_datasets._meta import info

_INFO = info("voc2012")
#: Lists of SBD-augmented training ids tried in ImageSets/Segmentation/, in order (DeepLab / common name first,
#: then MMSegmentation's aug.txt written by tools/dataset_converters/voc_aug.py).
AUG_LISTS = ("train_aug.txt", "trainaug.txt", "aug.txt")


class VOC2012(SegmentationDataset):
    """PASCAL VOC 2012 (Everingham et al., IJCV 2010) semantic segmentation, 20 classes + background.

    ``root`` is ``VOCdevkit/VOC2012`` (``VOCdevkit`` or its parent are accepted too). Ids come from
    ``ImageSets/Segmentation/<split>.txt``; images are ``JPEGImages/<id>.jpg``, labels ``SegmentationClass/<id>.png``
    (palette PNGs whose indices are the classes; 255 = object borders and difficult regions, ignored).

    ``augmented=True`` (train split only) gives the usual "trainaug" set: the ids of ``train.txt`` plus those of an
    SBD list in ``ImageSets/Segmentation/`` (first found of ``train_aug.txt``, ``trainaug.txt``, ``aug.txt``, or the
    file given as ``aug_list``), minus every id in ``val.txt``; labels come from ``SegmentationClass/`` where one
    exists, else from ``SegmentationClassAug/`` (SBD labels converted to index PNGs). Expected: 10,582 images.
    Splits: train (1464), val (1449), trainval (2913).
    """

    name = "voc2012"
    classes = _INFO["classes"]
    palette = _INFO["palette"]
    ignore_index = _INFO["ignore_index"]
    splits = tuple(_INFO["splits"])
    sizes = _INFO.get("sizes", {})
    homepage = _INFO["homepage"]
    license = _INFO["license"]
    ignore_color = (224, 224, 192)  # entry 255 of the VOC colour map: how VOC's own PNGs show borders
    sizes = {"train": 1464, "val": 1449, "trainval": 2913, "trainaug": 10582}
    homepage = (
        "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/ (VOCtrainval_11-May-2012.tar); SBD for "
        "augmented=True: https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/"
    )
    license = (
        "images from Flickr under Flickr's terms of use; annotations for research use "
        "(see the VOC2012 page); cite Everingham et al. 2010 (and Hariharan et al. 2011 for SBD)"
    )
    layout = """\
<root>/                                 (VOCdevkit/VOC2012)
  JPEGImages/<id>.jpg
  SegmentationClass/<id>.png            palette PNG: index = class, 255 = border/ignore
  ImageSets/Segmentation/{train,val,trainval}.txt
  SegmentationClassAug/<id>.png         (augmented=True only) SBD labels as index PNGs
  ImageSets/Segmentation/train_aug.txt  (augmented=True only; or trainaug.txt / aug.txt)"""

    def __init__(
        self,
        root,
        split="train",
        transform=None,
        *,
        augmented: bool = False,
        aug_list: str | Path | None = None,
        check_values=True,
    ):
        if augmented and split != "train":
            raise DatasetError(
                f"voc2012: augmented=True applies to split 'train' only (got {split!r}); the val "
                "split is the same with or without SBD"
            )
        self.augmented = augmented
        self.aug_list = Path(aug_list) if aug_list is not None else None
        super().__init__(_voc_root(root), split, transform, check_values=check_values)

    def _ids(self, list_file: Path) -> list[str]:
        return [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]

    def find_files(self) -> list[tuple[Path, Path]]:
        sets = self.require_dir(self.root / "ImageSets" / "Segmentation", "the ImageSets/Segmentation folder")
        image_dir = self.require_dir(self.root / "JPEGImages", "the JPEGImages folder")
        mask_dir = self.require_dir(self.root / "SegmentationClass", "the SegmentationClass folder")
        ids = self._ids(self.require_file(sets / f"{self.split}.txt", f"the id list {self.split}.txt"))
        aug_dir = None
        if self.augmented:
            aug_dir = self.require_dir(
                self.root / "SegmentationClassAug",
                "the SBD labels folder SegmentationClassAug",
                "augmented=True needs SBD's labels converted to index PNGs (e.g. with MMSegmentation's "
                "tools/dataset_converters/voc_aug.py)",
            )
            if self.aug_list is not None:
                aug_file = self.require_file(self.aug_list, "the SBD id list aug_list")
            else:
                found = [sets / name for name in AUG_LISTS if (sets / name).is_file()]
                if not found:
                    raise self._not_found(sets, "an SBD id list " + " or ".join(AUG_LISTS), "or pass aug_list=")
                aug_file = found[0]
            val = set(self._ids(self.require_file(sets / "val.txt", "the id list val.txt")))
            ids = [i for i in dict.fromkeys(ids + self._ids(aug_file)) if i not in val]
        files, missing_images, missing_masks = [], [], []
        for i in ids:
            image = image_dir / f"{i}.jpg"
            mask = mask_dir / f"{i}.png"
            if aug_dir is not None and not mask.is_file():
                mask = aug_dir / f"{i}.png"
            if not image.is_file():
                missing_images.append(image)
            if not mask.is_file():
                missing_masks.append(mask)
            files.append((image, mask))
        if not ids:
            raise PairingError(f"voc2012 split {self.split!r}: the id list in {sets} is empty")
        if missing_images or missing_masks:
            parts = []
            if missing_images:
                parts.append(
                    f"{len(missing_images)} of {len(ids)} listed images are missing from {image_dir}: "
                    f"{describe_files(missing_images)}"
                )
            if missing_masks:
                where = f"{mask_dir}" + (f" and {aug_dir}" if aug_dir else "")
                parts.append(
                    f"{len(missing_masks)} of {len(ids)} listed masks are missing from {where}: "
                    f"{describe_files(missing_masks)}"
                )
            raise PairingError(f"voc2012 split {self.split!r}: " + "; ".join(parts))
        return files

    def _not_found(self, path: Path, what: str, hint: str):
        from segzoo.data import DatasetNotFoundError

        return DatasetNotFoundError(
            f"voc2012 split {self.split!r} not found: expected {what} in {path}, {hint}{self._where_to_get()}"
        )

    def _value_note(self) -> str:
        return " (0 background, 1..20 classes, 255 border)"


def _voc_root(root) -> Path | None:
    """Accept VOCdevkit/VOC2012 itself, VOCdevkit, or the folder holding VOCdevkit."""
    if root is None:
        return None
    root = Path(root).expanduser()
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir() or (candidate / "ImageSets").is_dir():
            return candidate
    return root
