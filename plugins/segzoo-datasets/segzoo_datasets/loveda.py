"""LoveDA land-cover segmentation (Wang et al., NeurIPS 2021 Datasets and Benchmarks), urban and rural scenes."""

from __future__ import annotations

from pathlib import Path

from segzoo.data import DatasetNotFoundError, SegmentationDataset, collect_files, pair_files
from segzoo_datasets._meta import info
from segzoo_datasets._mmseg_layout import img_ann_pairs, reduce_zero_label

_ORIGINAL_DIRS = {"train": "Train", "val": "Val"}
_REGIONS = ("Rural", "Urban")


class LoveDA(SegmentationDataset):
    """LoveDA: 1024x1024 aerial images (0.3 m) of Nanjing, Changzhou and Wuhan, 7 land-cover classes.

    Two layouts, told apart by ``img_dir``:

    - mmseg-converted (``tools/dataset_converters/loveda.py``): ``img_dir/{train,val}/<n>.png`` and
      ``ann_dir/{train,val}/<n>.png``.
    - original (``Train.zip``, ``Val.zip`` unzipped): ``Train/{Rural,Urban}/images_png/<n>.png`` and
      ``Train/{Rural,Urban}/masks_png/<n>.png``, the same for ``Val``.

    Label files hold 0 = no-data and 1..7 = the classes; 0 is ignored and the classes become 0..6, as mmseg scores
    them (``reduce_zero_label``). Splits: train (2,522), val (1,669; the test split has no public labels).
    """

    name = "loveda"
    classes = info("loveda")["classes"]
    palette = info("loveda")["palette"]
    ignore_index = info("loveda")["ignore_index"]
    splits = tuple(info("loveda")["splits"])
    sizes = info("loveda")["sizes"]
    homepage = info("loveda")["homepage"]
    license = info("loveda")["license"]
    layout = """\
<root>/  either the original files (Train.zip, Val.zip unzipped)
  Train/{Rural,Urban}/images_png/<n>.png    Train/{Rural,Urban}/masks_png/<n>.png   (0 no-data, 1..7)
  Val/{Rural,Urban}/images_png/<n>.png      Val/{Rural,Urban}/masks_png/<n>.png
or mmseg's converted layout (tools/dataset_converters/loveda.py)
  img_dir/{train,val}/<n>.png               ann_dir/{train,val}/<n>.png"""

    def find_files(self) -> list[tuple[Path, Path]]:
        if (self.root / "img_dir").is_dir():
            return img_ann_pairs(self, "loveda")
        base = self.root / _ORIGINAL_DIRS[self.split]
        if not base.is_dir() and (self.root / f"{base.name}.zip").is_file():
            raise DatasetNotFoundError(
                f"loveda: {base.name}.zip in {self.root} is not unzipped; unzip it there "
                f"(unzip {self.root / base.name}.zip -d {self.root})"
            )
        self.require_dir(base, f"the original {base.name} folder (or mmseg's converted img_dir/{self.split})")
        images: dict[str, Path] = {}
        labels: dict[str, Path] = {}
        for region in _REGIONS:
            if not (base / region).is_dir():
                continue
            image_dir = self.require_dir(base / region / "images_png", f"the {base.name}/{region}/images_png folder")
            label_dir = self.require_dir(base / region / "masks_png", f"the {base.name}/{region}/masks_png folder")
            images.update({f"{region}/{k}": p for k, p in collect_files(image_dir, ".png").items()})
            labels.update({f"{region}/{k}": p for k, p in collect_files(label_dir, ".png").items()})
        if not images:
            self.require_dir(base / _REGIONS[0], f"the {base.name}/Rural and {base.name}/Urban folders")
        return pair_files(
            images,
            labels,
            dataset=self.name,
            split=self.split,
            image_dir=base / "*" / "images_png",
            mask_dir=base / "*" / "masks_png",
        )

    def label_mapping(self) -> dict[int, int]:
        return reduce_zero_label(len(self.classes), self.ignore_index)

    def _value_note(self) -> str:
        return " (0 no-data, 1..7 classes)"
