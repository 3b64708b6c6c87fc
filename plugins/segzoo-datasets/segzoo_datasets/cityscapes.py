"""Cityscapes fine annotations (gtFine), label ids mapped to the 19 evaluation train ids."""

from __future__ import annotations

from pathlib import Path

from segzoo.data import (
    DatasetError,
    SegmentationDataset,
    collect_files,
    pair_files,
)
from segzoo_datasets._meta import CITYSCAPES_CLASSES, CITYSCAPES_LABELS, info

_INFO = info("cityscapes")
LABEL_TO_TRAIN = {label_id: train_id for label_id, _, train_id in CITYSCAPES_LABELS}
LABEL_TYPES = ("labelIds", "labelTrainIds")


class Cityscapes(SegmentationDataset):
    """Cityscapes (Cordts et al., CVPR 2016), fine annotations, 19 classes.

    ``root`` holds ``leftImg8bit/`` and ``gtFine/`` as unzipped from leftImg8bit_trainvaltest.zip and
    gtFine_trainvaltest.zip. Images ``leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` pair with
    ``gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png``, whose label ids 0..33 are mapped to train
    ids 0..18 (all other ids -> 255). ``label_type="labelTrainIds"`` reads the ``*_gtFine_labelTrainIds.png`` files
    that cityscapesScripts' ``createTrainIdLabelImgs`` writes instead (values 0..18 and 255).
    Splits: train (2975), val (500), test (1525; its public labels are all void).
    """

    name = "cityscapes"
    classes = _INFO["classes"]
    palette = _INFO["palette"]
    ignore_index = _INFO["ignore_index"]
    splits = tuple(_INFO["splits"])
    sizes = _INFO.get("sizes", {})
    homepage = _INFO["homepage"]
    license = _INFO["license"]
    layout = """\
<root>/
  leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
  gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
      (also *_gtFine_color.png, *_gtFine_instanceIds.png, *_gtFine_polygons.json: not read)"""

    def __init__(self, root, split="train", transform=None, *, label_type: str = "labelIds", check_values=True):
        if label_type not in LABEL_TYPES:
            raise DatasetError(f"cityscapes label_type must be one of {LABEL_TYPES}, got {label_type!r}")
        self.label_type = label_type
        super().__init__(root, split, transform, check_values=check_values)

    def find_files(self) -> list[tuple[Path, Path]]:
        image_dir = self.require_dir(self.root / "leftImg8bit" / self.split, "the leftImg8bit images folder")
        mask_dir = self.require_dir(self.root / "gtFine" / self.split, "the gtFine labels folder")
        images = collect_files(image_dir, "_leftImg8bit.png", recursive=True)
        masks = collect_files(mask_dir, f"_gtFine_{self.label_type}.png", recursive=True)
        if images and not masks and self.label_type == "labelTrainIds":
            raise DatasetError(
                f"no *_gtFine_labelTrainIds.png under {mask_dir}: create them with cityscapesScripts "
                "(csCreateTrainIdLabelImgs) or use label_type='labelIds' (the default), which maps label ids itself"
            )
        return pair_files(images, masks, dataset=self.name, split=self.split, image_dir=image_dir, mask_dir=mask_dir)

    def label_mapping(self) -> dict[int, int]:
        if self.label_type == "labelTrainIds":
            return {**{k: k for k in range(len(CITYSCAPES_CLASSES))}, 255: 255}
        return dict(LABEL_TO_TRAIN)

    def _value_note(self) -> str:
        return " (Cityscapes label ids)" if self.label_type == "labelIds" else " (train ids, 255 void)"
