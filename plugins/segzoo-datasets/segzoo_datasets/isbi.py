"""ISBI 2012 EM segmentation challenge (neuronal membranes), the U-Net paper's dataset, as 512x512 PNG slices."""

from __future__ import annotations

from pathlib import Path

from segzoo.data import DatasetError, DatasetNotFoundError, SegmentationDataset, collect_files, pair_files
from segzoo_datasets._meta import info

_INFO = info("isbi2012")
POSITIVES = ("membrane", "cell")


class ISBI2012(SegmentationDataset):
    """ISBI 2012 "Segmentation of neuronal structures in EM stacks" (Arganda-Carreras et al. 2015; data Cardona et
    al. 2010): 30 grayscale 512x512 training slices with binary labels.

    ``root`` holds ``train/image/{0..29}.png`` and ``train/label/{0..29}.png`` (the layout of zhixuhao/unet's
    ``data/membrane``; sorted numerically). Labels are 0 = membrane (black) and 255 = cell interior (white), the
    challenge convention. The binary target is 0/1 with ``positive`` as class 1:

    * ``positive="membrane"`` (default): 1 = membrane, 0 = cell. The membranes are the thin structure a
      segmentation network has to find (U-Net's separation border), so Dice/IoU of class 1 measures them.
    * ``positive="cell"``: 1 = cell interior (white), the challenge's own foreground; what ``label > 127`` gives.

    Images are mode 'L'. There is only a train split: the challenge never released test labels.
    """

    name = "isbi2012"
    classes = _INFO["classes"]
    palette = _INFO["palette"]
    ignore_index = _INFO["ignore_index"]
    splits = tuple(_INFO["splits"])
    sizes = _INFO.get("sizes", {})
    homepage = _INFO["homepage"]
    license = _INFO["license"]
    image_mode = "L"
    homepage = (
        "https://imagej.net/events/isbi-2012-segmentation-challenge (challenge); PNG slices as used here: "
        "https://github.com/zhixuhao/unet (data/membrane)"
    )
    license = (
        "no explicit data licence: research and benchmarking use; cite Cardona et al. 2010 and "
        "Arganda-Carreras et al. 2015"
    )
    layout = """\
<root>/
  train/image/0.png ... 29.png    grayscale 512x512 (slices of train-volume.tif)
  train/label/0.png ... 29.png    0 = membrane, 255 = cell interior"""

    def __init__(self, root, split="train", transform=None, *, positive: str = "membrane", check_values=True):
        if positive not in POSITIVES:
            raise DatasetError(f"isbi2012 positive must be one of {POSITIVES}, got {positive!r}")
        self.positive = positive
        if positive == "cell":
            self.classes = ["membrane", "cell"]
            self.palette = [[0, 0, 0], [255, 255, 255]]
        super().__init__(root, split, transform, check_values=check_values)

    def _check_split(self, split: str) -> None:
        if split == "test":
            raise DatasetNotFoundError(
                "isbi2012 has no labelled test split: the challenge never released test labels "
                "(test-volume.tif is for submissions only); use split='train' and hold out slices yourself"
            )
        super()._check_split(split)

    def find_files(self) -> list[tuple[Path, Path]]:
        image_dir = self.require_dir(self.root / self.split / "image", "the image folder")
        mask_dir = self.require_dir(self.root / self.split / "label", "the label folder")
        return pair_files(
            collect_files(image_dir, (".png", ".tif", ".tiff")),
            collect_files(mask_dir, (".png", ".tif", ".tiff")),
            dataset=self.name,
            split=self.split,
            image_dir=image_dir,
            mask_dir=mask_dir,
        )

    def label_mapping(self) -> dict[int, int]:
        return {0: 1, 255: 0} if self.positive == "membrane" else {0: 0, 255: 1}

    def _value_note(self) -> str:
        return " (0 membrane, 255 cell)"
