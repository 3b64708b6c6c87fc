"""ADE20K as released for the MIT Scene Parsing Benchmark (ADEChallengeData2016), 150 classes."""

from __future__ import annotations

from pathlib import Path

from segzoo.data.base import SegmentationDataset, collect_files, pair_files

# objectInfo150 short names in label order 1..150, as MMSegmentation's ADE20KDataset lists them.
CLASSES = [
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk", "rock",
    "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers",
    "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway",
    "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind", "coffee table",
    "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island", "computer",
    "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower",
    "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel",
    "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship",
    "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name",
    "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce",
    "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board",
    "shower", "radiator", "glass", "clock", "flag",
]
# MMSegmentation's ADE20K palette (also used by the CSAIL semantic-segmentation-pytorch demo). Not all colours are
# distinct: 'road' and 'skyscraper' share (140, 140, 140).
PALETTE = [
    [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3], [120, 120, 80], [140, 140, 140],
    [204, 5, 255], [230, 230, 230], [4, 250, 7], [224, 5, 255], [235, 255, 7], [150, 5, 61], [120, 120, 70],
    [8, 255, 51], [255, 6, 82], [143, 255, 140], [204, 255, 4], [255, 51, 7], [204, 70, 3], [0, 102, 200],
    [61, 230, 250], [255, 6, 51], [11, 102, 255], [255, 7, 71], [255, 9, 224], [9, 7, 230], [220, 220, 220],
    [255, 9, 92], [112, 9, 255], [8, 255, 214], [7, 255, 224], [255, 184, 6], [10, 255, 71], [255, 41, 10],
    [7, 255, 255], [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7], [255, 122, 8], [0, 255, 20],
    [255, 8, 41], [255, 5, 153], [6, 51, 255], [235, 12, 255], [160, 150, 20], [0, 163, 255], [140, 140, 140],
    [250, 10, 15], [20, 255, 0], [31, 255, 0], [255, 31, 0], [255, 224, 0], [153, 255, 0], [0, 0, 255],
    [255, 71, 0], [0, 235, 255], [0, 173, 255], [31, 0, 255], [11, 200, 200], [255, 82, 0], [0, 255, 245],
    [0, 61, 255], [0, 255, 112], [0, 255, 133], [255, 0, 0], [255, 163, 0], [255, 102, 0], [194, 255, 0],
    [0, 143, 255], [51, 255, 0], [0, 82, 255], [0, 255, 41], [0, 255, 173], [10, 0, 255], [173, 255, 0],
    [0, 255, 153], [255, 92, 0], [255, 0, 255], [255, 0, 245], [255, 0, 102], [255, 173, 0], [255, 0, 20],
    [255, 184, 184], [0, 31, 255], [0, 255, 61], [0, 71, 255], [255, 0, 204], [0, 255, 194], [0, 255, 82],
    [0, 10, 255], [0, 112, 255], [51, 0, 255], [0, 194, 255], [0, 122, 255], [0, 255, 163], [255, 153, 0],
    [0, 255, 10], [255, 112, 0], [143, 255, 0], [82, 0, 255], [163, 255, 0], [255, 235, 0], [8, 184, 170],
    [133, 0, 255], [0, 255, 92], [184, 0, 255], [255, 0, 31], [0, 184, 255], [0, 214, 255], [255, 0, 112],
    [92, 255, 0], [0, 224, 255], [112, 224, 255], [70, 184, 160], [163, 0, 255], [153, 0, 255], [71, 255, 0],
    [255, 0, 163], [255, 204, 0], [255, 0, 143], [0, 255, 235], [133, 255, 0], [255, 0, 235], [245, 0, 255],
    [255, 0, 122], [255, 245, 0], [10, 190, 212], [214, 255, 0], [0, 204, 255], [20, 0, 255], [255, 255, 0],
    [0, 153, 255], [0, 41, 255], [0, 255, 204], [41, 0, 255], [41, 255, 0], [173, 0, 255], [0, 245, 255],
    [71, 0, 255], [122, 0, 255], [0, 255, 184], [0, 92, 255], [184, 255, 0], [0, 133, 255], [255, 214, 0],
    [25, 194, 194], [102, 255, 0], [92, 0, 255],
]
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
    classes = CLASSES
    palette = PALETTE
    ignore_index = 255
    splits = ("train", "val")
    sizes = {"train": 20210, "val": 2000}
    homepage = "http://sceneparsing.csail.mit.edu/ (ADEChallengeData2016.zip)"
    license = ("ADE20K terms of use (research and educational use; images belong to their owners); "
               "cite Zhou et al. 2017 and 2019")
    layout = """\
<root>/                        (ADEChallengeData2016/)
  images/training/ADE_train_00000001.jpg ... (20210)    annotations/training/ADE_train_00000001.png ...
  images/validation/ADE_val_00000001.jpg ... (2000)     annotations/validation/ADE_val_00000001.png ...
  objectInfo150.txt, sceneCategories.txt"""
    #: Hugging Face Hub dataset with the same data (a datasets-library repository, not this layout).
    hub_dataset = "scene_parse_150"

    def __init__(self, root, split="train", transform=None, *, reduce_zero_label: bool = True, check_values=True):
        self.reduce_zero_label = reduce_zero_label
        if not reduce_zero_label:
            self.classes = ["other", *CLASSES]
            self.palette = [[0, 0, 0], *PALETTE]
        if root is not None and not (Path(root) / "images").is_dir() and (Path(root) / "ADEChallengeData2016").is_dir():
            root = Path(root) / "ADEChallengeData2016"
        super().__init__(root, split, transform, check_values=check_values)

    def find_files(self) -> list[tuple[Path, Path]]:
        sub = _SPLIT_DIRS[self.split]
        image_dir = self.require_dir(self.root / "images" / sub, f"the images/{sub} folder")
        mask_dir = self.require_dir(self.root / "annotations" / sub, f"the annotations/{sub} folder")
        return pair_files(
            collect_files(image_dir, ".jpg"), collect_files(mask_dir, ".png"),
            dataset=self.name, split=self.split, image_dir=image_dir, mask_dir=mask_dir,
        )

    def label_mapping(self) -> dict[int, int]:
        if self.reduce_zero_label:
            return {0: self.ignore_index, **{k: k - 1 for k in range(1, 151)}}
        return {k: k for k in range(151)}

    def _value_note(self) -> str:
        return " (0 other, 1..150 classes)"
