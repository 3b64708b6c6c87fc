"""Cityscapes fine annotations (gtFine), label ids mapped to the 19 evaluation train ids."""

from __future__ import annotations

from pathlib import Path

from segzoo.data.base import DatasetError, SegmentationDataset, collect_files, pair_files

# (labelId, name, trainId) for labelIds 0..33, from cityscapesScripts helpers/labels.py. License plate (id -1) is
# never written into *_labelIds.png files.
LABELS = [
    (0, "unlabeled", 255), (1, "ego vehicle", 255), (2, "rectification border", 255), (3, "out of roi", 255),
    (4, "static", 255), (5, "dynamic", 255), (6, "ground", 255), (7, "road", 0), (8, "sidewalk", 1),
    (9, "parking", 255), (10, "rail track", 255), (11, "building", 2), (12, "wall", 3), (13, "fence", 4),
    (14, "guard rail", 255), (15, "bridge", 255), (16, "tunnel", 255), (17, "pole", 5), (18, "polegroup", 255),
    (19, "traffic light", 6), (20, "traffic sign", 7), (21, "vegetation", 8), (22, "terrain", 9), (23, "sky", 10),
    (24, "person", 11), (25, "rider", 12), (26, "car", 13), (27, "truck", 14), (28, "bus", 15),
    (29, "caravan", 255), (30, "trailer", 255), (31, "train", 16), (32, "motorcycle", 17), (33, "bicycle", 18),
]
LABEL_TO_TRAIN = {label_id: train_id for label_id, _, train_id in LABELS}
CLASSES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
           "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]
PALETTE = [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
           [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
           [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32]]
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
    classes = CLASSES
    palette = PALETTE
    ignore_index = 255
    splits = ("train", "val", "test")
    sizes = {"train": 2975, "val": 500, "test": 1525}
    homepage = "https://www.cityscapes-dataset.com/downloads/ (leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip)"
    license = "Cityscapes terms of use: non-commercial research only, no redistribution; cite Cordts et al. 2016"
    layout = """\
<root>/
  leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
  gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png   (also _color, _instanceIds, _polygons.json)"""

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
            return {**{k: k for k in range(len(CLASSES))}, 255: 255}
        return dict(LABEL_TO_TRAIN)

    def _value_note(self) -> str:
        return " (Cityscapes label ids)" if self.label_type == "labelIds" else " (train ids, 255 void)"
