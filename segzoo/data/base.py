"""Base class for segmentation datasets stored as image/mask file pairs, their errors, and palette helpers.

A dataset subclass declares its metadata as class attributes (``name``, ``classes``, ``palette``, ``ignore_index``,
``splits``, ``homepage``, ``license``, ``layout``), finds its files in :meth:`SegmentationDataset.find_files` and, if
its label files do not hold training ids directly, says how to map them in :meth:`SegmentationDataset.label_mapping`.
The base class pairs, reads, checks and maps, and raises errors that name the files involved.

``dataset[i]`` returns ``(image, mask)``: a PIL image (``image_mode``, RGB or L) and a PIL mask of mode 'L' (or 'I'
when ids exceed 255) holding training ids, with void pixels set to ``ignore_index``; or, with ``transform``, whatever
``transform(image, mask)`` returns (see :mod:`segzoo.data.transforms`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.utils.data
from PIL import Image, ImageChops

from segzoo.data.transforms import pil_to_tensor
from segzoo.errors import SegzooError

__all__ = [
    "IMAGE_SUFFIXES",
    "DatasetError",
    "DatasetNotFoundError",
    "MaskValueError",
    "PairingError",
    "SegmentationDataset",
    "UnreadableFileError",
    "collect_files",
    "colorize",
    "decode_colors",
    "describe_files",
    "describe_values",
    "numeric_key",
    "open_image",
    "pair_files",
    "voc_colormap",
]

#: File suffixes tried for images when a dataset does not fix one.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".ppm", ".pgm")
_MAX_NAMES = 10


# -- errors ----------------------------------------------------------------------------------------------------------
class DatasetError(SegzooError):
    """A dataset cannot be read as expected; the message names the files and what to do."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The root or a split folder is missing; the message shows the expected layout and where to get the data."""


class PairingError(DatasetError):
    """Images without masks, masks without images, or an image and mask of different sizes."""


class MaskValueError(DatasetError, ValueError):
    """A mask holds values that are neither a class of the dataset nor its ignore index."""


class UnreadableFileError(DatasetError, OSError):
    """An image or mask file cannot be opened or decoded."""


# -- small helpers ---------------------------------------------------------------------------------------------------
def describe_files(paths: Sequence[Path | str]) -> str:
    """File names for an error message: the first few, then how many more."""
    shown = ", ".join(Path(p).name for p in paths[:_MAX_NAMES])
    return shown + (f" and {len(paths) - _MAX_NAMES} more" if len(paths) > _MAX_NAMES else "")


def describe_values(values: Iterable[int]) -> str:
    """Integer values for an error message, runs collapsed: ``[0, 1, 2, 5, 255]`` -> ``"0-2, 5, 255"``."""
    values = sorted(set(values))
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ", ".join(parts)


def numeric_key(key: Path | str) -> tuple:
    """Sort key that orders ``2.png`` before ``10.png``: digit runs compare as numbers (``str(key)`` is split)."""
    parts = re.split(r"(\d+)", Path(key).as_posix() if isinstance(key, Path) else str(key))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def open_image(path: Path | str) -> Image.Image:
    """Open and fully decode an image file, or raise :class:`UnreadableFileError` naming it."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return im
    except FileNotFoundError:
        raise UnreadableFileError(f"{path} does not exist (it was listed when the dataset was opened)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise UnreadableFileError(f"cannot read {path}: {err}") from err


def image_size(path: Path | str) -> tuple[int, int]:
    """``(width, height)`` from the file header only, or :class:`UnreadableFileError`."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise UnreadableFileError(f"cannot read {path}: {err}") from err


def collect_files(folder: Path, suffixes: str | Sequence[str], *, recursive: bool = False) -> dict[str, Path]:
    """Files in ``folder`` whose names end with one of ``suffixes`` (case-insensitive), keyed by their path relative
    to ``folder`` with the suffix removed (``"frankfurt/frankfurt_000000_000294"``). Hidden files are skipped."""
    suffixes = (suffixes,) if isinstance(suffixes, str) else tuple(suffixes)
    lowered = [s.lower() for s in suffixes]
    found: dict[str, Path] = {}
    for path in folder.rglob("*") if recursive else folder.iterdir():
        if path.name.startswith(".") or not path.is_file():
            continue
        name = path.name.lower()
        for suffix in lowered:
            if name.endswith(suffix):
                rel = path.relative_to(folder).as_posix()
                found[rel[: len(rel) - len(suffix)]] = path
                break
    return found


def pair_files(
    images: Mapping[Any, Path],
    masks: Mapping[Any, Path],
    *,
    dataset: str,
    split: str | None,
    image_dir: Path | str,
    mask_dir: Path | str,
    sort_key: Callable | None = None,
) -> list[tuple[Path, Path]]:
    """Pair images and masks by key, raising :class:`PairingError` that names every unmatched file (and counts)."""
    where = f"{dataset} split {split!r}" if split is not None else dataset
    if not images:
        raise PairingError(f"{where}: no images found in {image_dir}")
    missing = sorted((images[k] for k in images if k not in masks), key=lambda p: numeric_key(p.name))
    extra = sorted((masks[k] for k in masks if k not in images), key=lambda p: numeric_key(p.name))
    if missing or extra:
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} of {len(images)} images in {image_dir} have no mask in {mask_dir}: "
                f"{describe_files(missing)}"
            )
        if extra:
            parts.append(
                f"{len(extra)} of {len(masks)} masks in {mask_dir} have no image in {image_dir}: "
                f"{describe_files(extra)}"
            )
        raise PairingError(f"{where}: " + "; ".join(parts) + " (restore or remove the unmatched files)")
    keys = sorted(images, key=sort_key or numeric_key)
    return [(images[k], masks[k]) for k in keys]


# -- palettes and visualisation -------------------------------------------------------------------------------------
def voc_colormap(n: int = 256) -> list[list[int]]:
    """The PASCAL VOC colour map (bit-interleaved), used by VOC's palette PNGs and as a default palette."""
    cmap = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap.append([r, g, b])
    return cmap


def _tensor_to_bytes(t: torch.Tensor) -> bytes:
    try:
        return t.contiguous().numpy().tobytes()
    except (RuntimeError, ImportError):  # torch without numpy
        return bytes(t.contiguous().untyped_storage())


def _mask_tensor(mask: Any) -> torch.Tensor:
    if isinstance(mask, Image.Image):
        if mask.mode == "P":
            mask = Image.frombytes("L", mask.size, mask.tobytes())
        t = pil_to_tensor(mask)
    elif isinstance(mask, torch.Tensor):
        t = mask
    else:  # numpy array or nested lists
        t = torch.as_tensor(mask)
    while t.ndim > 2 and t.shape[0] == 1:  # only channel/batch dims go: a mask 1 pixel high or wide stays 2-D
        t = t[0]
    while t.ndim > 2 and t.shape[-1] == 1:  # (H, W, 1) arrays
        t = t[..., 0]
    if t.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H, W), got shape {tuple(t.shape)}")
    return t.to(torch.int64)


def colorize(
    mask: Image.Image | torch.Tensor | Any,
    palette: Sequence[Sequence[int]],
    ignore_color: Sequence[int] = (0, 0, 0),
) -> Image.Image:
    """An RGB picture of ``mask`` (PIL 'L'/'P'/'I' image, or an (H, W) tensor/array of class ids): class ``k`` gets
    ``palette[k]``; every other value (ignore index, out-of-range ids) gets ``ignore_color``."""
    ignore_color = [int(c) for c in ignore_color]
    if isinstance(mask, Image.Image) and mask.mode in ("L", "P"):
        flat: list[int] = []
        for k in range(256):
            flat.extend(int(c) for c in (palette[k] if k < len(palette) else ignore_color))
        indexed = Image.frombytes("P", mask.size, mask.tobytes())
        indexed.putpalette(flat)
        return indexed.convert("RGB")
    t = _mask_tensor(mask)
    lut = torch.tensor([list(c) for c in palette] + [ignore_color], dtype=torch.uint8)
    idx = torch.where((t >= 0) & (t < len(palette)), t, len(palette))
    rgb = lut[idx]
    h, w = t.shape
    return Image.frombytes("RGB", (w, h), _tensor_to_bytes(rgb))


def decode_colors(image: Image.Image, palette: Sequence[Sequence[int]], ignore_index: int = 255) -> Image.Image:
    """The inverse of :func:`colorize`: an RGB colour-coded label image -> mask of class ids ('L', or 'I' when ids
    exceed 255). Colours not in ``palette`` become ``ignore_index``; a colour listed twice decodes to its first id."""
    rgb = pil_to_tensor(image.convert("RGB")).to(torch.int64)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    out = torch.full(code.shape, ignore_index, dtype=torch.int64)
    for k in range(len(palette) - 1, -1, -1):  # reversed so the first of duplicate colours wins
        r, g, b = (int(c) for c in palette[k])
        out[code == ((r << 16) | (g << 8) | b)] = k
    return _mask_image(out)


def _mask_image(t: torch.Tensor) -> Image.Image:
    h, w = t.shape
    if t.numel() == 0 or (int(t.min()) >= 0 and int(t.max()) <= 255):
        return Image.frombytes("L", (w, h), _tensor_to_bytes(t.to(torch.uint8)))
    return Image.frombytes("I", (w, h), _tensor_to_bytes(t.to(torch.int32)))


# -- the base class --------------------------------------------------------------------------------------------------
class SegmentationDataset(torch.utils.data.Dataset):
    """Map-style dataset of ``(image, mask)`` pairs read from ``root`` in the dataset's original layout.

    Arguments: ``root`` (the dataset folder), ``split`` (one of ``splits``), ``transform`` (joint
    ``transform(image, mask)``), ``check_values`` (default True: every mask is checked when loaded, and a value
    that is neither a class nor void raises :class:`MaskValueError` naming the file and the values; False maps such
    values to ``ignore_index`` silently).

    Attributes: ``classes``, ``num_classes``, ``ignore_index``, ``palette``, ``split``, ``root``, ``files`` (list of
    ``(image_path, mask_path)``), ``transform``.
    """

    #: Registry name, used in messages.
    name: ClassVar[str] = "dataset"
    classes: ClassVar[Sequence[str]] = ()
    palette: ClassVar[Sequence[Sequence[int]]] = ()
    ignore_index: ClassVar[int | None] = 255
    splits: ClassVar[Sequence[str]] = ("train", "val")
    homepage: ClassVar[str | None] = None
    license: ClassVar[str | None] = None
    #: The expected folder tree under ``root``, shown when the root or a split is missing.
    layout: ClassVar[str] = ""
    #: PIL mode images are converted to.
    image_mode: ClassVar[str] = "RGB"
    #: Whether a palette ('P') mask file holds class indices (VOC) rather than gray levels to convert.
    palette_indices: ClassVar[bool] = True
    #: Colour :meth:`colorize` gives ignored pixels.
    ignore_color: ClassVar[Sequence[int]] = (0, 0, 0)

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable | None = None,
        *,
        check_values: bool = True,
    ) -> None:
        super().__init__()
        self.root = Path(root).expanduser() if root is not None else None
        self.split = split
        self.transform = transform
        self.check_values = check_values
        # Subclasses may set instance values (e.g. from options) before calling this __init__.
        self.classes = list(self.__dict__.get("classes", type(self).classes))
        self.palette = [list(c) for c in self.__dict__.get("palette", type(self).palette)]
        if len(self.palette) < len(self.classes):  # fill missing colours from the VOC colour map
            self.palette += voc_colormap(len(self.classes))[len(self.palette) :]
        self.ignore_index = self.__dict__.get("ignore_index", type(self).ignore_index)
        self._check_split(split)
        self._check_root()
        self._lut: list[int] | None = None
        self._mapping: dict[int, int] | None = None
        self.files: list[tuple[Path, Path]] = self.find_files()

    # -- what subclasses provide --------------------------------------------------------------------------------------
    def find_files(self) -> list[tuple[Path, Path]]:
        """The ``(image_path, mask_path)`` pairs of ``self.split``, in a stable order (see :func:`pair_files`)."""
        raise NotImplementedError

    def label_mapping(self) -> dict[int, int]:
        """Raw label value -> training id, for every value allowed in the label files. Default: identity on
        ``0..num_classes-1`` and on ``ignore_index``."""
        mapping = {k: k for k in range(self.num_classes)}
        if self.ignore_index is not None:
            mapping[self.ignore_index] = self.ignore_index
        return mapping

    # -- derived attributes -------------------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, samples={len(self)})"

    def colorize(self, mask: Any) -> Image.Image:
        """An RGB picture of a mask of this dataset (PIL image or (H, W) tensor), see :func:`colorize`."""
        return colorize(mask, self.palette, self.ignore_color)

    # -- loading --------------------------------------------------------------------------------------------------
    def __getitem__(self, index: int):
        image, mask = self.load_pair(index)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask

    def load_pair(self, index: int) -> tuple[Image.Image, Image.Image]:
        """The untransformed ``(image, mask)`` of sample ``index``; raises if their sizes differ."""
        image = self.load_image(index)
        mask = self.load_mask(index)
        if image.size != mask.size:
            img_path, mask_path = self.files[index]
            raise PairingError(
                f"{self.name}: image {img_path} is {image.size[0]}x{image.size[1]} but its mask {mask_path} is "
                f"{mask.size[0]}x{mask.size[1]} (WxH)"
            )
        return image, mask

    def load_image(self, index: int) -> Image.Image:
        path = self.files[index][0]
        image = open_image(path)
        if image.mode != self.image_mode:
            image = image.convert(self.image_mode)
        return image

    def image_size(self, index: int) -> tuple[int, int]:
        """``(width, height)`` of sample ``index``'s image, from the file header."""
        return image_size(self.files[index][0])

    def load_mask(self, index: int, *, check: bool | None = None) -> Image.Image:
        """Sample ``index``'s mask in training ids. ``check`` overrides ``check_values`` for this call."""
        path = self.files[index][1]
        return self.map_mask(self.read_raw_mask(path), path, check=self.check_values if check is None else check)

    def read_raw_mask(self, path: Path) -> Image.Image:
        """A label file as a one-band image of raw values: 'L' for 8-bit files, 'I' for 16/32-bit ones."""
        raw = open_image(path)
        mode = raw.mode
        if mode == "P":
            return Image.frombytes("L", raw.size, raw.tobytes()) if self.palette_indices else raw.convert("L")
        if mode == "L":
            return raw
        if mode == "1":
            return raw.convert("L")
        if mode.startswith("I"):
            return raw.convert("I")
        if mode == "LA":
            return raw.getchannel("L")
        if mode in ("RGB", "RGBA"):
            r, g, b = raw.convert("RGB").split()
            if ImageChops.difference(r, g).getbbox() is None and ImageChops.difference(r, b).getbbox() is None:
                return r  # a grayscale label saved as RGB
            raise MaskValueError(
                f"{path} is a colour ({mode}) image, but {self.name} masks must hold class ids (one band, mode L, P "
                "or I). For colour-coded labels, convert them with segzoo.data.decode_colors(image, palette)"
            )
        raise MaskValueError(f"{path} has PIL mode {mode!r}; a mask must be a one-band image of class ids")

    def _lookup(self) -> tuple[dict[int, int], list[int]]:
        if self._mapping is None:
            self._mapping = dict(self.label_mapping())
            self._lut = [self._mapping.get(v, -1) for v in range(256)]
        return self._mapping, self._lut  # type: ignore[return-value]

    def map_mask(self, raw: Image.Image, path: Path | str = "<mask>", *, check: bool = True) -> Image.Image:
        """Check ``raw`` values against :meth:`label_mapping` and map them to training ids."""
        mapping, lut = self._lookup()
        fallback = self.ignore_index if self.ignore_index is not None else 0
        if raw.mode == "L":
            hist = raw.histogram()
            if check:
                bad = [v for v in range(256) if hist[v] and lut[v] < 0]
                if bad:
                    self._bad_values(path, bad, sum(hist[v] for v in bad))
            table = [t if t >= 0 else fallback for t in lut]
            if all(t <= 255 for t in table):
                if all(table[v] == v for v in range(256) if hist[v]):
                    return raw
                return raw.point(table)
            raw = raw.convert("I")
            t = pil_to_tensor(raw).to(torch.int64)
        values = torch.unique(t).tolist()
        if check:
            bad = [v for v in values if v not in mapping]
            if bad:
                self._bad_values(path, bad, int(torch.isin(t, torch.tensor(bad)).sum()))
        out = t.clone()
        for v in values:
            target = mapping.get(v, fallback)
            if target != v:
                out[t == v] = target
        return _mask_image(out)

    def _bad_values(self, path: Path | str, bad: list[int], pixels: int) -> None:
        valid = self._lookup()[0]
        raise MaskValueError(
            f"{path}: mask values {describe_values(bad)} ({pixels} pixels) are not valid {self.name} labels; expected "
            f"{describe_values(valid)}{self._value_note()}. Check that this is a {self.name} label file (pass "
            "check_values=False to map unknown values to the ignore index instead)"
        )

    def _value_note(self) -> str:
        return ""

    # -- whole-dataset checks ---------------------------------------------------------------------------------------
    def verify(self, *, decode_images: bool = False) -> dict[str, Any]:
        """Read every mask (and every image header, or every image with ``decode_images=True``), check pairing,
        sizes and values, and return ``{"samples": n, "pixels": {train_id: count}}``. Raises :class:`DatasetError`
        listing every problem found."""
        problems: list[str] = []
        counts: Counter[int] = Counter()
        for i in range(len(self)):
            try:
                mask = self.load_mask(i, check=True)
                size = self.load_image(i).size if decode_images else self.image_size(i)
                if size != mask.size:
                    img_path, mask_path = self.files[i]
                    problems.append(
                        f"image {img_path} is {size[0]}x{size[1]} but its mask {mask_path} is "
                        f"{mask.size[0]}x{mask.size[1]} (WxH)"
                    )
                    continue
                if mask.mode == "L":
                    counts.update({v: c for v, c in enumerate(mask.histogram()) if c})
                else:
                    counts.update({v: c for c, v in mask.getcolors(mask.size[0] * mask.size[1])})
            except DatasetError as err:
                problems.append(str(err))
        if problems:
            shown = "\n  ".join(problems[:20])
            more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise DatasetError(
                f"{self.name} split {self.split!r}: {len(problems)} of {len(self)} samples have "
                f"problems:\n  {shown}{more}"
            )
        return {"samples": len(self), "pixels": dict(sorted(counts.items()))}

    # -- root and split checks -------------------------------------------------------------------------------------
    def _where_to_get(self) -> str:
        lines = []
        if self.layout:
            lines.append(f"Expected layout:\n{self.layout.rstrip()}")
        if self.homepage:
            lines.append(f"Download it from {self.homepage}")
        return ("\n" + "\n".join(lines)) if lines else ""

    def _check_root(self) -> None:
        if self.root is None or not self.root.is_dir():
            raise DatasetNotFoundError(
                f"{self.name} root {self.root} does not exist or is not a folder.{self._where_to_get()}"
            )

    def _check_split(self, split: str) -> None:
        if split not in self.splits:
            raise DatasetError(f"{self.name} has no split {split!r}; choose from {', '.join(map(repr, self.splits))}")

    def require_dir(self, path: Path, what: str, hint: str = "") -> Path:
        """``path`` if it is a folder, else :class:`DatasetNotFoundError` saying what was expected there, with the
        dataset's layout and download page."""
        if not path.is_dir():
            raise self._split_not_found(path, what, hint)
        return path

    def require_file(self, path: Path, what: str, hint: str = "") -> Path:
        """``path`` if it is a file (a split list, an index), else the error of :meth:`require_dir`."""
        if not path.is_file():
            raise self._split_not_found(path, what, hint)
        return path

    def _split_not_found(self, path: Path, what: str, hint: str) -> DatasetNotFoundError:
        return DatasetNotFoundError(
            f"{self.name} split {self.split!r} not found: expected {what} at {path}"
            f"{'. ' + hint if hint else ''}{self._where_to_get()}"
        )
