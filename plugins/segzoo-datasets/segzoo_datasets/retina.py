"""Retinal vessel datasets of mmsegmentation's U-Net zoo: STARE, CHASE_DB1 and HRF.

Each reads two layouts, told apart by ``images/training`` or ``images/validation`` under ``root``:

- **mmseg-converted** (what ``tools/dataset_converters/{stare,chase_db1,hrf}.py`` writes): ``images/{training,
  validation}/<id>.png`` and ``annotations/{training,validation}/<id><suffix>.png`` with 0 = background, 1 = vessel.
- **original** (the files as the authors distribute them, decompressed): labels with 0 = background, 255 = vessel.
  Values are thresholded at 128 (``>= 128`` is vessel), exactly as mmseg's converters do, and the split is
  mmseg's: the same files, sorted by name, cut at the same place.

Splits are ``train`` and ``test``: mmseg's ``training`` and ``validation`` (the set its metafiles report on), named as
DRIVE's are.
No field-of-view masking: mmseg scores every pixel.
"""

from __future__ import annotations

from pathlib import Path

from segzoo.data import (
    DatasetError,
    DatasetNotFoundError,
    PairingError,
    SegmentationDataset,
    collect_files,
    pair_files,
)
from segzoo_datasets._meta import info

_MMSEG_DIRS = {"train": "training", "test": "validation"}


class _RetinalVessels(SegmentationDataset):
    """Shared reading of both layouts; subclasses give the original layout's files and the label suffixes."""

    #: folder names under which users usually keep the dataset (accepted as the parent of ``root``)
    folder_names: tuple[str, ...] = ()
    palette_indices = False  # labels are gray levels

    def __init__(self, root, split: str = "train", transform=None, *, check_values: bool = True) -> None:
        if root is not None:
            for name in self.folder_names:
                if not self._looks_like_root(Path(root)) and (Path(root) / name).is_dir():
                    root = Path(root) / name
                    break
        super().__init__(root, split, transform, check_values=check_values)

    @classmethod
    def _looks_like_root(cls, root: Path) -> bool:
        return (root / "images").is_dir() or any((root / p).exists() for p in cls.original_markers())

    @classmethod
    def original_markers(cls) -> tuple[str, ...]:
        """Paths under ``root`` that only the original layout has."""
        raise NotImplementedError

    @property
    def mmseg_layout(self) -> bool:
        return any((self.root / "images" / d).is_dir() for d in _MMSEG_DIRS.values())

    # -- what subclasses give ------------------------------------------------------------------------------------
    def mmseg_label_suffix(self) -> str:
        raise NotImplementedError

    def original_pairs(self) -> list[tuple[Path, Path]]:
        """Every labelled (image, label) pair of the original layout, in mmseg's order (file names sorted)."""
        raise NotImplementedError

    def original_split(self, pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
        raise NotImplementedError

    # -- reading ---------------------------------------------------------------------------------------------------
    def find_files(self) -> list[tuple[Path, Path]]:
        if not self.mmseg_layout:
            return self.original_split(self.original_pairs())
        sub = _MMSEG_DIRS[self.split]
        image_dir = self.require_dir(self.root / "images" / sub, f"the mmseg-converted images/{sub} folder")
        label_dir = self.require_dir(self.root / "annotations" / sub, f"the mmseg-converted annotations/{sub} folder")
        return pair_files(
            collect_files(image_dir, ".png"),
            collect_files(label_dir, self.mmseg_label_suffix()),
            dataset=self.name,
            split=self.split,
            image_dir=image_dir,
            mask_dir=label_dir,
        )

    def label_mapping(self) -> dict[int, int]:
        if self.mmseg_layout:
            return {0: 0, 1: 1}
        return {v: int(v >= 128) for v in range(256)}

    def _value_note(self) -> str:
        return " (the mmseg-converted layout stores 0 background, 1 vessel)" if self.mmseg_layout else ""

    def _pairs(
        self, images: dict[str, Path], labels: dict[str, Path], image_dir: Path, label_dir: Path
    ) -> list[tuple[Path, Path]]:
        return pair_files(images, labels, dataset=self.name, split=None, image_dir=image_dir, mask_dir=label_dir)

    def _cut(self, pairs: list[tuple[Path, Path]], train: int, total: int) -> list[tuple[Path, Path]]:
        if len(pairs) != total:
            raise PairingError(
                f"{self.name}: expected the {total} labelled images of the original release, found "
                f"{len(pairs)} in {self.root}; mmseg's split is defined on the full set"
            )
        return pairs[:train] if self.split == "train" else pairs[train:]


def _gzipped(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.lower().endswith(".gz")) if folder.is_dir() else []


class STARE(_RetinalVessels):
    """STARE (Hoover et al. 2000): 20 fundus images (700x605) with vessel labels by two observers.

    Original layout: ``stare-images/im0001.ppm``..., ``labels-ah/im0001.ah.ppm`` (Adam Hoover, the default) and
    ``labels-vk/im0001.vk.ppm`` (Valentina Kouznetsova), decompressed from the three tar files of ``.gz`` files.
    ``annotator`` is ``"ah"`` or ``"vk"``. mmseg's split: the first 10 images by name train, the last 10 test.
    """

    name = "stare"
    classes = info("stare")["classes"]
    palette = info("stare")["palette"]
    ignore_index = info("stare")["ignore_index"]
    splits = tuple(info("stare")["splits"])
    sizes = info("stare")["sizes"]
    homepage = info("stare")["homepage"]
    license = info("stare")["license"]
    folder_names = ("STARE", "stare")
    layout = """\
<root>/  either the original files (decompressed: gunzip */*.gz)
  stare-images/im0001.ppm ... im0324.ppm (the 20 labelled ones)
  labels-ah/im0001.ah.ppm ...        labels-vk/im0001.vk.ppm ...
or mmseg's converted layout (tools/dataset_converters/stare.py)
  images/{training,validation}/im0001.png ...
  annotations/{training,validation}/im0001.ah.png, im0001.vk.png ... (0/1)"""

    def __init__(
        self, root, split: str = "train", transform=None, *, annotator: str = "ah", check_values: bool = True
    ) -> None:
        if annotator not in ("ah", "vk"):
            raise DatasetError(f"stare annotator must be 'ah' (Hoover) or 'vk' (Kouznetsova), got {annotator!r}")
        self.annotator = annotator
        super().__init__(root, split, transform, check_values=check_values)

    @classmethod
    def original_markers(cls) -> tuple[str, ...]:
        return ("stare-images", "labels-ah", "labels-vk")

    def mmseg_label_suffix(self) -> str:
        return f".{self.annotator}.png"

    def original_pairs(self) -> list[tuple[Path, Path]]:
        image_dir = self.require_dir(self.root / "stare-images", "the stare-images folder")
        label_dir = self.require_dir(self.root / f"labels-{self.annotator}", f"the labels-{self.annotator} folder")
        for folder in (image_dir, label_dir):
            if _gzipped(folder) and not collect_files(folder, ".ppm"):
                raise DatasetNotFoundError(
                    f"stare: {folder} holds .gz files only; decompress them first (gunzip {folder}/*.gz)"
                )
        labels = collect_files(label_dir, f".{self.annotator}.ppm")
        # the full STARE project has 400 images; 20 are labelled
        images = {k: v for k, v in collect_files(image_dir, ".ppm").items() if k in labels}
        return self._pairs(images, labels, image_dir, label_dir)

    def original_split(self, pairs):
        return self._cut(pairs, 10, 20)


class CHASEDB1(_RetinalVessels):
    """CHASE_DB1 (Fraz et al. 2012): 28 fundus images (999x960) of 14 children, left and right eyes, labelled by
    two observers.

    Original layout: the flat ``CHASEDB1.zip``: ``Image_01L.jpg``, ``Image_01L_1stHO.png``, ``Image_01L_2ndHO.png``...
    ``annotator`` is 1 (the default, what mmseg uses) or 2. mmseg's split: images 01L-10R train, 11L-14R test.
    """

    name = "chase_db1"
    classes = info("chase_db1")["classes"]
    palette = info("chase_db1")["palette"]
    ignore_index = info("chase_db1")["ignore_index"]
    splits = tuple(info("chase_db1")["splits"])
    sizes = info("chase_db1")["sizes"]
    homepage = info("chase_db1")["homepage"]
    license = info("chase_db1")["license"]
    folder_names = ("CHASE_DB1", "CHASEDB1", "chase_db1")
    layout = """\
<root>/  either the original files (CHASEDB1.zip, flat)
  Image_01L.jpg, Image_01L_1stHO.png, Image_01L_2ndHO.png ... Image_14R.jpg ...
or mmseg's converted layout (tools/dataset_converters/chase_db1.py)
  images/{training,validation}/Image_01L.png ...
  annotations/{training,validation}/Image_01L_1stHO.png, Image_01L_2ndHO.png ... (0/1)"""

    def __init__(
        self, root, split: str = "train", transform=None, *, annotator: int = 1, check_values: bool = True
    ) -> None:
        if annotator not in (1, 2):
            raise DatasetError(f"chase_db1 annotator must be 1 or 2, got {annotator!r}")
        self.annotator = annotator
        super().__init__(root, split, transform, check_values=check_values)

    @classmethod
    def original_markers(cls) -> tuple[str, ...]:
        return ("Image_01L.jpg",)

    def _observer(self) -> str:
        return "_1stHO" if self.annotator == 1 else "_2ndHO"

    def mmseg_label_suffix(self) -> str:
        return f"{self._observer()}.png"

    def original_pairs(self) -> list[tuple[Path, Path]]:
        images = collect_files(self.root, ".jpg")
        labels = collect_files(self.root, f"{self._observer()}.png")
        return self._pairs(images, labels, self.root, self.root)

    def original_split(self, pairs):
        return self._cut(pairs, 20, 28)


class HRF(_RetinalVessels):
    """HRF, High-Resolution Fundus (Budai et al. 2013): 45 images (3504x2336), 15 each of healthy (``_h``),
    glaucomatous (``_g``) and diabetic-retinopathy (``_dr``) eyes.

    Original layout: the site's ``all.zip``: ``images/01_h.jpg`` (``_dr`` images are ``.JPG``), ``manual1/01_h.tif``
    (the FOV masks in ``mask/`` are not used). mmseg's split: images 01-05 of each group train (15), 06-15 test (30).
    """

    name = "hrf"
    classes = info("hrf")["classes"]
    palette = info("hrf")["palette"]
    ignore_index = info("hrf")["ignore_index"]
    splits = tuple(info("hrf")["splits"])
    sizes = info("hrf")["sizes"]
    homepage = info("hrf")["homepage"]
    license = info("hrf")["license"]
    folder_names = ("HRF", "hrf")
    layout = """\
<root>/  either the original files (all.zip)
  images/01_dr.JPG, 01_g.jpg, 01_h.jpg ... 15_h.jpg
  manual1/01_dr.tif, 01_g.tif, 01_h.tif ...
or mmseg's converted layout (tools/dataset_converters/hrf.py)
  images/{training,validation}/01_h.png ...
  annotations/{training,validation}/01_h.png ... (0/1)"""

    @classmethod
    def original_markers(cls) -> tuple[str, ...]:
        return ("manual1",)

    def mmseg_label_suffix(self) -> str:
        return ".png"

    def original_pairs(self) -> list[tuple[Path, Path]]:
        image_dir = self.require_dir(self.root / "images", "the images folder")
        label_dir = self.require_dir(self.root / "manual1", "the manual1 label folder")
        images = collect_files(image_dir, ".jpg")
        labels = collect_files(label_dir, (".tif", ".tiff"))
        return self._pairs(images, labels, image_dir, label_dir)

    def original_split(self, pairs):
        if len(pairs) != 45:
            return self._cut(pairs, 15, 45)  # raises, naming the count
        # mmseg converts each group's zip separately: its first 5 files by name train
        train = [p for p in pairs if int(p[0].name.split("_")[0]) <= 5]
        test = [p for p in pairs if int(p[0].name.split("_")[0]) > 5]
        return train if self.split == "train" else test
