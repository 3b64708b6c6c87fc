"""DRIVE retinal vessel segmentation (Staal et al. 2004), in the official release layout or mmseg's converted one."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from segzoo.data import (
    DatasetError,
    PairingError,
    SegmentationDataset,
    collect_files,
    describe_files,
    numeric_key,
    open_image,
    pair_files,
)
from segzoo_datasets._meta import info

_INFO = info("drive")
_SPLIT_DIRS = {"train": "training", "test": "test"}
_MMSEG_DIRS = {"train": "training", "test": "validation"}


def _is_root(path: Path) -> bool:
    return (path / "training").is_dir() or (path / "images").is_dir()


class DRIVE(SegmentationDataset):
    """DRIVE: 40 colour fundus images (565x584), 20 training and 20 test, with manual vessel labels and a
    field-of-view (FOV) mask per image.

    ``root`` is the ``DRIVE/`` folder (or its parent) with ``training/`` and ``test/``, each holding
    ``images/NN_<split>.tif`` (LZW TIFF), ``1st_manual/NN_manual1.gif`` (vessels 255, background 0) and
    ``mask/NN_<split>_mask.gif`` (FOV 255, outside 0). The target is 0 = background, 1 = vessel.

    ``fov_as_ignore=True`` (default on this layout) sets pixels outside the FOV to ``ignore_index`` (255), so the loss
    and the metrics count only FOV pixels, as the DRIVE protocol does (mmsegmentation scores every pixel instead:
    pass ``fov_as_ignore=False`` to reproduce its numbers). The FOV itself is available as
    :meth:`fov` (mode 'L', 1 inside, 0 outside) and its files as ``fov_files``.
    ``annotator=2`` uses the second observer's labels (``2nd_manual/``, test split only).

    mmsegmentation's converted layout (``tools/dataset_converters/drive.py``) is read too: ``images/training/21.png``,
    ``annotations/training/21_manual1.png`` (0/1), ``images/validation/01.png`` and ``annotations/validation/
    01_manual1.png`` / ``01_manual2.png`` for the test split. It has no FOV masks, so every pixel counts there.
    """

    name = "drive"
    classes = _INFO["classes"]
    palette = _INFO["palette"]
    ignore_index = _INFO["ignore_index"]
    splits = tuple(_INFO["splits"])
    sizes = _INFO.get("sizes", {})
    homepage = _INFO["homepage"]
    license = _INFO["license"]
    layout = """\
<root>/                             (DRIVE/)
  training/images/21_training.tif ... 40_training.tif
  training/1st_manual/21_manual1.gif ... 40_manual1.gif
  training/mask/21_training_mask.gif ... 40_training_mask.gif
  test/images/01_test.tif ... 20_test.tif, test/mask/01_test_mask.gif ...
  test/1st_manual/01_manual1.gif ..., test/2nd_manual/01_manual2.gif ..."""
    palette_indices = False  # GIF labels are gray levels

    def __init__(
        self,
        root,
        split="train",
        transform=None,
        *,
        fov_as_ignore: bool | None = None,
        annotator: int = 1,
        check_values=True,
    ):
        if annotator not in (1, 2):
            raise DatasetError(f"drive annotator must be 1 or 2, got {annotator!r}")
        self.annotator = annotator
        if root is not None and not _is_root(Path(root)) and (Path(root) / "DRIVE").is_dir():
            root = Path(root) / "DRIVE"
        self.mmseg_layout = root is not None and any((Path(root) / "images" / d).is_dir() for d in _MMSEG_DIRS.values())
        if self.mmseg_layout and fov_as_ignore:
            raise DatasetError(
                "drive: mmseg's converted layout has no FOV masks; use fov_as_ignore=False (or the "
                "official layout with its mask/ folders)"
            )
        self.fov_as_ignore = not self.mmseg_layout if fov_as_ignore is None else fov_as_ignore
        super().__init__(root, split, transform, check_values=check_values)

    def find_files(self) -> list[tuple[Path, Path]]:
        if self.mmseg_layout:
            self.fov_files = []
            sub = _MMSEG_DIRS[self.split]
            image_dir = self.require_dir(self.root / "images" / sub, f"the mmseg-converted images/{sub} folder")
            label_dir = self.require_dir(
                self.root / "annotations" / sub, f"the mmseg-converted annotations/{sub} folder"
            )
            labels = collect_files(label_dir, f"_manual{self.annotator}.png")
            return pair_files(
                collect_files(image_dir, ".png"),
                labels,
                dataset=self.name,
                split=self.split,
                image_dir=image_dir,
                mask_dir=label_dir,
            )
        sub = _SPLIT_DIRS[self.split]
        base = self.root / sub
        image_dir = self.require_dir(base / "images", "the images folder")
        manual = f"{self.annotator}{'st' if self.annotator == 1 else 'nd'}_manual"
        manual_dir = self.require_dir(base / manual, f"the {manual} labels folder")
        fov_dir = self.require_dir(base / "mask", "the FOV mask folder")
        images = sorted(
            (
                p
                for p in image_dir.iterdir()
                if p.name.lower().endswith((".tif", ".tiff")) and not p.name.startswith(".")
            ),
            key=numeric_key,
        )
        if not images:
            raise PairingError(f"drive split {self.split!r}: no .tif images in {image_dir}")
        files, fovs, missing, missing_fov = [], [], [], []
        for image in images:
            number = image.name.split("_")[0]
            label = manual_dir / f"{number}_manual{self.annotator}.gif"
            fov = fov_dir / f"{number}_{sub}_mask.gif"
            if not label.is_file():
                missing.append(label)
            if not fov.is_file():
                missing_fov.append(fov)
            files.append((image, label))
            fovs.append(fov)
        expected = {f[1].name for f in files}
        extra = sorted(p for p in manual_dir.iterdir() if p.suffix.lower() == ".gif" and p.name not in expected)
        if missing or missing_fov or extra:
            parts = []
            if missing:
                parts.append(
                    f"{len(missing)} of {len(images)} images in {image_dir} have no label in {manual_dir}: "
                    f"{describe_files(missing)}"
                )
            if missing_fov:
                parts.append(
                    f"{len(missing_fov)} of {len(images)} images have no FOV mask in {fov_dir}: "
                    f"{describe_files(missing_fov)}"
                )
            if extra:
                parts.append(
                    f"{len(extra)} labels in {manual_dir} have no image in {image_dir}: {describe_files(extra)}"
                )
            raise PairingError(f"drive split {self.split!r}: " + "; ".join(parts))
        self.fov_files = fovs
        return files

    def label_mapping(self) -> dict[int, int]:
        return {0: 0, 1: 1} if self.mmseg_layout else {0: 0, 255: 1}

    def _value_note(self) -> str:
        return " (0 background, 1 vessel)" if self.mmseg_layout else " (0 background, 255 vessel)"

    def fov(self, index: int) -> Image.Image:
        """The field-of-view mask of sample ``index``: mode 'L', 1 inside the FOV, 0 outside (untransformed)."""
        if not self.fov_files:
            raise DatasetError("drive: mmseg's converted layout has no FOV masks; use the official layout")
        path = self.fov_files[index]
        raw = open_image(path).convert("L")
        hist = raw.histogram()
        bad = [v for v in range(256) if hist[v] and v not in (0, 255)]
        if bad:
            from segzoo.data import MaskValueError, describe_values

            raise MaskValueError(f"{path}: FOV mask values {describe_values(bad)} are not 0 or 255")
        return raw.point([1 if v == 255 else 0 for v in range(256)])

    def load_mask(self, index: int, *, check: bool | None = None) -> Image.Image:
        mask = super().load_mask(index, check=check)
        if not self.fov_as_ignore:
            return mask
        fov = self.fov(index)
        if fov.size != mask.size:
            raise PairingError(
                f"drive: FOV mask {self.fov_files[index]} is {fov.size[0]}x{fov.size[1]} but label "
                f"{self.files[index][1]} is {mask.size[0]}x{mask.size[1]} (WxH)"
            )
        outside = Image.new("L", mask.size, self.ignore_index)
        return Image.composite(mask, outside, fov.point([255 if v else 0 for v in range(256)]))
