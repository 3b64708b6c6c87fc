"""ADE20K as released for the MIT Scene Parsing Benchmark (ADEChallengeData2016), 150 classes."""

from __future__ import annotations

from pathlib import Path

from segzoo.data import SegmentationDataset, collect_files, pair_files
from segzoo_datasets._meta import ADE20K_CLASSES, ADE20K_PALETTE, info

_INFO = info("ade20k")
_SPLIT_DIRS = {"train": "training", "val": "validation"}


class ADE20K(SegmentationDataset):
    """ADE20K scene parsing (Zhou et al., CVPR 2017), the 150-class ADEChallengeData2016 release.

    ``root`` is ``ADEChallengeData2016/`` (or its parent): ``images/{training,validation}/ADE_*.jpg`` and
    ``annotations/{training,validation}/ADE_*.png`` (value 0 = "other"/unlabelled, 1..150 = classes).

    ``reduce_zero_label=True`` (default, the benchmark protocol) maps 0 -> 255 (ignored) and k -> k-1, giving the
    150 classes 0..149. ``reduce_zero_label=False`` keeps the raw values and adds class 0 "other" (151 classes).
    Splits: train (20,210), val (2,000).
    """

    name = "ade20k"
    classes = _INFO["classes"]
    palette = _INFO["palette"]
    ignore_index = _INFO["ignore_index"]
    splits = tuple(_INFO["splits"])
    sizes = _INFO.get("sizes", {})
    homepage = _INFO["homepage"]
    license = _INFO["license"]
    layout = """\
<root>/                        (ADEChallengeData2016/)
  images/training/ADE_train_00000001.jpg ... (20210)    annotations/training/ADE_train_00000001.png ...
  images/validation/ADE_val_00000001.jpg ... (2000)     annotations/validation/ADE_val_00000001.png ...
  objectInfo150.txt, sceneCategories.txt"""
    #: Hugging Face Hub dataset with the same data (a datasets-library repository, not this layout).
    hub_dataset = _INFO["hub_dataset"]

    def __init__(self, root, split="train", transform=None, *, reduce_zero_label: bool = True, check_values=True):
        self.reduce_zero_label = reduce_zero_label
        if not reduce_zero_label:
            self.classes = ["other", *ADE20K_CLASSES]
            self.palette = [[0, 0, 0], *ADE20K_PALETTE]
        if root is not None and not (Path(root) / "images").is_dir() and (Path(root) / "ADEChallengeData2016").is_dir():
            root = Path(root) / "ADEChallengeData2016"
        super().__init__(root, split, transform, check_values=check_values)

    def find_files(self) -> list[tuple[Path, Path]]:
        sub = _SPLIT_DIRS[self.split]
        image_dir = self.require_dir(self.root / "images" / sub, f"the images/{sub} folder")
        mask_dir = self.require_dir(self.root / "annotations" / sub, f"the annotations/{sub} folder")
        return pair_files(
            collect_files(image_dir, ".jpg"),
            collect_files(mask_dir, ".png"),
            dataset=self.name,
            split=self.split,
            image_dir=image_dir,
            mask_dir=mask_dir,
        )

    def label_mapping(self) -> dict[int, int]:
        if self.reduce_zero_label:
            return {0: self.ignore_index, **{k: k - 1 for k in range(1, 151)}}
        return {k: k for k in range(151)}

    def _value_note(self) -> str:
        return " (0 other, 1..150 classes)"
