"""ISPRS 2D semantic labeling benchmark, Potsdam and Vaihingen, as the 512x512 clips mmseg's models were scored on.

The original releases are large orthophoto tiles (6000x6000 for Potsdam, about 2000x2500 for Vaihingen) with
colour-coded labels. mmseg's converters cut them into 512x512 clips and turn the colours into ids; its metrics are
over those clips, whose overlaps count twice, so the tiles themselves would not give the published numbers. The clips
are what is read here: the converters need only the zips as downloaded.
"""

from __future__ import annotations

from pathlib import Path

from segzoo.data import SegmentationDataset
from segzoo_datasets._meta import info
from segzoo_datasets._mmseg_layout import img_ann_pairs, reduce_zero_label


class _ISPRS(SegmentationDataset):
    """mmseg's ``img_dir/{train,val}/<clip>.png`` and ``ann_dir/{train,val}/<clip>.png`` (same names), labels
    0 = boundary or unknown colour (ignored), 1..6 = the classes (mmseg's ``reduce_zero_label``)."""

    converter = ""

    def find_files(self) -> list[tuple[Path, Path]]:
        return img_ann_pairs(self, self.converter)

    def label_mapping(self) -> dict[int, int]:
        return reduce_zero_label(len(self.classes), self.ignore_index)

    def _value_note(self) -> str:
        return " (mmseg's converted labels: 0 ignored, 1..6 classes)"


class Potsdam(_ISPRS):
    """ISPRS Potsdam: 38 tiles of 6000x6000 at 5 cm, 24 for training, 14 for validation (mmseg's split), cut by
    ``tools/dataset_converters/potsdam.py`` into 512x512 clips named ``<i>_<j>_<x0>_<y0>_<x1>_<y1>.png`` from
    ``2_Ortho_RGB.zip`` and ``5_Labels_all_noBoundary.zip``. Splits: train (3,456 clips), val (2,016 clips)."""

    name = "potsdam"
    classes = info("potsdam")["classes"]
    palette = info("potsdam")["palette"]
    ignore_index = info("potsdam")["ignore_index"]
    splits = tuple(info("potsdam")["splits"])
    sizes = info("potsdam")["sizes"]
    homepage = info("potsdam")["homepage"]
    license = info("potsdam")["license"]
    converter = "potsdam"
    layout = """\
<root>/                                  (mmseg's converted layout: tools/dataset_converters/potsdam.py)
  img_dir/{train,val}/2_10_0_0_512_512.png ...    RGB clips
  ann_dir/{train,val}/2_10_0_0_512_512.png ...    0 boundary/unknown, 1..6 classes"""


class Vaihingen(_ISPRS):
    """ISPRS Vaihingen: 33 areas at 9 cm (false-colour IRRG orthophotos), 16 for training, 17 for validation
    (mmseg's split), cut by ``tools/dataset_converters/vaihingen.py`` into 512x512 clips named
    ``area<k>_<x0>_<y0>_<x1>_<y1>.png`` from ``ISPRS_semantic_labeling_Vaihingen.zip`` and the eroded ground truth
    ``ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip``. Splits: train (344 clips), val (398)."""

    name = "vaihingen"
    classes = info("vaihingen")["classes"]
    palette = info("vaihingen")["palette"]
    ignore_index = info("vaihingen")["ignore_index"]
    splits = tuple(info("vaihingen")["splits"])
    sizes = info("vaihingen")["sizes"]
    homepage = info("vaihingen")["homepage"]
    license = info("vaihingen")["license"]
    converter = "vaihingen"
    layout = """\
<root>/                                  (mmseg's converted layout: tools/dataset_converters/vaihingen.py)
  img_dir/{train,val}/area1_0_0_512_512.png ...   IRRG clips
  ann_dir/{train,val}/area1_0_0_512_512.png ...   0 eroded boundary/unknown, 1..6 classes"""
