"""COCO-Stuff (Caesar et al., CVPR 2018), 171 classes: the 164k release (COCO 2017) and the older 10k release."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from segzoo.data import DatasetError, SegmentationDataset, UnreadableFileError, collect_files, pair_files
from segzoo_datasets._meta import info
from segzoo_datasets._mmseg_layout import (
    converter_hint,
    identity_labels,
    listed_pairs,
    read_ids,
    reduce_zero_label,
)

#: COCO category ids (0-based, as stuffthingmaps store them) of the 11 thing classes COCO defined but never
#: annotated; the other 171 of 0..181 are the classes, in order.
UNUSED_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
#: stuffthingmaps value (0-based COCO id) -> train id 0..170, as mmseg's coco_stuff164k.py converter maps them.
COCO_ID_TO_TRAIN = {coco: train for train, coco in enumerate(k for k in range(182) if k not in UNUSED_IDS)}
TRAIN_IDS_SUFFIX = "_labelTrainIds"


class COCOStuff164k(SegmentationDataset):
    """COCO-Stuff 164k: COCO 2017 images with stuff and thing labels, 171 classes.

    ``root`` holds ``images/{train2017,val2017}/<id>.jpg`` and ``annotations/{train2017,val2017}/``, either with the
    original ``stuffthingmaps_trainval2017.zip`` labels (``<id>.png``, 0-based COCO ids, 255 unlabelled), which are
    mapped to the 171 train ids here, or with the ``<id>_labelTrainIds.png`` files mmsegmentation's
    ``tools/dataset_converters/coco_stuff164k.py`` writes next to them (read as they are when present).
    Splits: train (118,287), val (5,000).
    """

    name = "coco_stuff164k"
    classes = info("coco_stuff164k")["classes"]
    palette = info("coco_stuff164k")["palette"]
    ignore_index = info("coco_stuff164k")["ignore_index"]
    splits = tuple(info("coco_stuff164k")["splits"])
    sizes = info("coco_stuff164k")["sizes"]
    homepage = info("coco_stuff164k")["homepage"]
    license = info("coco_stuff164k")["license"]
    layout = """\
<root>/                                     (coco_stuff164k)
  images/train2017/000000000009.jpg ...     images/val2017/000000000139.jpg ...
  annotations/train2017/000000000009.png    (stuffthingmaps, 0-based COCO ids, 255 unlabelled)
  annotations/val2017/000000000139.png      and/or mmseg's 000000000139_labelTrainIds.png (train ids 0..170)"""

    def find_files(self) -> list[tuple[Path, Path]]:
        sub = f"{self.split}2017"
        image_dir = self.require_dir(self.root / "images" / sub, f"the images/{sub} folder (COCO's {sub}.zip)")
        label_dir = self.require_dir(
            self.root / "annotations" / sub,
            f"the annotations/{sub} folder (stuffthingmaps_trainval2017.zip unzipped into annotations/)",
        )
        labels = collect_files(label_dir, ".png")
        train_ids = {k[: -len(TRAIN_IDS_SUFFIX)]: p for k, p in labels.items() if k.endswith(TRAIN_IDS_SUFFIX)}
        #: "trainIds" (mmseg's converted files) or "stuffthingmaps" (the original release)
        self.label_format = "trainIds" if train_ids else "stuffthingmaps"
        if not train_ids:
            train_ids = labels
        return pair_files(
            collect_files(image_dir, ".jpg"),
            train_ids,
            dataset=self.name,
            split=self.split,
            image_dir=image_dir,
            mask_dir=label_dir,
        )

    def label_mapping(self) -> dict[int, int]:
        if self.label_format == "trainIds":
            return identity_labels(len(self.classes), self.ignore_index)
        return {**COCO_ID_TO_TRAIN, 255: self.ignore_index}

    def _value_note(self) -> str:
        if self.label_format == "trainIds":
            return " (mmseg's *_labelTrainIds.png: 0..170, 255 unlabelled)"
        return f" (stuffthingmaps: COCO ids 0..181 except {', '.join(map(str, UNUSED_IDS))}; 255 unlabelled)"


class COCOStuff10k(SegmentationDataset):
    """COCO-Stuff 10k (v1.1): 9,000 training and 1,000 test images of COCO 2014, 171 classes.

    Two layouts, told apart by ``images/train2014``:

    - mmseg-converted (``tools/dataset_converters/coco_stuff10k.py``): ``images/{train2014,test2014}/<name>.jpg``
      and ``annotations/{train2014,test2014}/<name>_labelTrainIds.png`` with 0 = unlabelled, 1..171 = classes.
    - original (``cocostuff-10k-v1.1.zip``): ``images/<name>.jpg``, ``annotations/<name>.mat`` (MATLAB ``S``
      matrices of 1-based COCO ids, 0 unlabelled; reading them needs scipy) and ``imageLists/{train,test}.txt``.

    Either way 0 (unlabelled) is ignored and the classes are 0..170, as mmseg scores them (``reduce_zero_label``).
    Splits: train (9,000), test (1,000; the set mmseg reports on).
    """

    name = "coco_stuff10k"
    classes = info("coco_stuff10k")["classes"]
    palette = info("coco_stuff10k")["palette"]
    ignore_index = info("coco_stuff10k")["ignore_index"]
    splits = tuple(info("coco_stuff10k")["splits"])
    sizes = info("coco_stuff10k")["sizes"]
    homepage = info("coco_stuff10k")["homepage"]
    license = info("coco_stuff10k")["license"]
    layout = """\
<root>/  either mmseg's converted layout (tools/dataset_converters/coco_stuff10k.py)
  images/{train2014,test2014}/COCO_train2014_000000000077.jpg ...
  annotations/{train2014,test2014}/COCO_train2014_000000000077_labelTrainIds.png ...  (0 unlabelled, 1..171)
or the original cocostuff-10k-v1.1.zip
  images/COCO_train2014_000000000077.jpg ...   annotations/COCO_train2014_000000000077.mat ...
  imageLists/train.txt, imageLists/test.txt"""

    @property
    def mmseg_layout(self) -> bool:
        return (self.root / "images" / "train2014").is_dir() or (self.root / "images" / "test2014").is_dir()

    def find_files(self) -> list[tuple[Path, Path]]:
        if self.mmseg_layout:
            sub = f"{self.split}2014"
            image_dir = self.require_dir(self.root / "images" / sub, f"mmseg's converted images/{sub} folder")
            label_dir = self.require_dir(
                self.root / "annotations" / sub,
                f"mmseg's converted annotations/{sub} folder",
                converter_hint("coco_stuff10k"),
            )
            return pair_files(
                collect_files(image_dir, ".jpg"),
                collect_files(label_dir, f"{TRAIN_IDS_SUFFIX}.png"),
                dataset=self.name,
                split=self.split,
                image_dir=image_dir,
                mask_dir=label_dir,
            )
        lists = self.require_dir(
            self.root / "imageLists",
            "the imageLists folder of cocostuff-10k-v1.1.zip (or mmseg's converted images/train2014, images/test2014)",
        )
        list_file = self.require_file(lists / f"{self.split}.txt", f"the id list {self.split}.txt")
        image_dir = self.require_dir(self.root / "images", "the images folder")
        label_dir = self.require_dir(self.root / "annotations", "the annotations folder (.mat files)")
        return listed_pairs(self, read_ids(list_file), list_file, image_dir, ".jpg", label_dir, ".mat")

    def read_raw_mask(self, path: Path) -> Image.Image:
        if path.suffix.lower() != ".mat":
            return super().read_raw_mask(path)
        try:
            from scipy.io import loadmat
        except ImportError:
            raise DatasetError(
                f"{path}: reading COCO-Stuff 10k's original .mat labels needs scipy (pip install "
                "scipy), or convert them once with mmsegmentation's "
                "tools/dataset_converters/coco_stuff10k.py"
            ) from None
        try:
            labels = loadmat(str(path))["S"]
        except (OSError, ValueError, KeyError, NotImplementedError) as err:
            raise UnreadableFileError(f"cannot read the COCO-Stuff label matrix 'S' from {path}: {err}") from err
        if labels.ndim != 2 or labels.size == 0 or labels.min() < 0 or labels.max() > 255:
            raise DatasetError(f"{path}: 'S' is not a 2-D matrix of COCO ids 0..182 (shape {labels.shape})")
        return Image.fromarray(labels.astype("uint8"))

    def label_mapping(self) -> dict[int, int]:
        if self.mmseg_layout:
            return reduce_zero_label(len(self.classes), self.ignore_index)
        # original: 1-based COCO ids (0 unlabelled)
        return {0: self.ignore_index, **{coco + 1: train for coco, train in COCO_ID_TO_TRAIN.items()}}

    def _value_note(self) -> str:
        if self.mmseg_layout:
            return " (mmseg's *_labelTrainIds.png: 0 unlabelled, 1..171 classes)"
        return f" (1-based COCO ids 1..182 except {', '.join(str(k + 1) for k in UNUSED_IDS)}; 0 unlabelled)"
