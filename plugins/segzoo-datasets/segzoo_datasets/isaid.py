"""iSAID (Waqas Zamir et al., CVPR Workshops 2019) as semantic labels, in the 896x896 patches mmseg scores on."""

from __future__ import annotations

from pathlib import Path

from segzoo.data import SegmentationDataset
from segzoo_datasets._meta import info
from segzoo_datasets._mmseg_layout import identity_labels, img_ann_pairs

LABEL_SUFFIX = "_instance_color_RGB.png"


class ISAID(SegmentationDataset):
    """iSAID: 2,806 DOTA aerial images (800 to 13,000 px wide) with 15 object classes plus background.

    Read in the layout of mmsegmentation's ``tools/dataset_converters/isaid.py``, which cuts each image and its
    colour-coded semantic mask into 896x896 patches overlapping by 384 px (smaller images are padded: image 0,
    label 255) and turns the colours into ids: ``img_dir/{train,val}/P0000_<y0>_<y1>_<x0>_<x1>.png`` and
    ``ann_dir/{train,val}/P0000_<y0>_<y1>_<x0>_<x1>_instance_color_RGB.png`` (0 background, 1..15 classes,
    255 padding, ignored). mmseg's metrics are over the patches, so the whole images are not read directly.
    Splits: train (33,978 patches), val (11,644 patches; the test split has no public labels).
    """

    name = "isaid"
    classes = info("isaid")["classes"]
    palette = info("isaid")["palette"]
    ignore_index = info("isaid")["ignore_index"]
    splits = tuple(info("isaid")["splits"])
    sizes = info("isaid")["sizes"]
    homepage = info("isaid")["homepage"]
    license = info("isaid")["license"]
    layout = """\
<root>/                                  (mmseg's converted layout: tools/dataset_converters/isaid.py)
  img_dir/{train,val}/P0000_0_896_0_896.png ...
  ann_dir/{train,val}/P0000_0_896_0_896_instance_color_RGB.png ...   0 background, 1..15 classes, 255 padding"""

    def find_files(self) -> list[tuple[Path, Path]]:
        return img_ann_pairs(self, "isaid", label_suffix=LABEL_SUFFIX)

    def label_mapping(self) -> dict[int, int]:
        return identity_labels(len(self.classes), self.ignore_index)

    def _value_note(self) -> str:
        return " (0 background, 1..15 classes, 255 padding)"
