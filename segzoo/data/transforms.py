"""Joint (image, mask) transforms for semantic segmentation.

Every transform is called as ``transform(image, mask) -> (image, mask)``. Geometric transforms move the image and
the mask identically; the mask is always resampled with nearest neighbour, so class indices are never blended, and
pixels a transform has to invent (padding, rotation corners) are filled with ``ignore_index`` in the mask.
``mask`` may be ``None`` (inference), in which case ``None`` is passed through.

The geometric and colour transforms work on PIL images (what the datasets return). Put :class:`ToTensor` (and then
:class:`Normalize`) last::

    from segzoo.data import transforms as T

    train_tf = T.Compose([
        T.RandomScale((0.5, 2.0)),
        T.RandomCrop(512, ignore_index=255),
        T.RandomHorizontalFlip(),
        T.ColorJitter(0.2, 0.2, 0.2),
        T.ToTensor(),
        T.Normalize(T.IMAGENET_MEAN, T.IMAGENET_STD),
    ])

Randomness comes only from torch's global RNG (``torch.rand``, ``torch.randint``, ``torch.randperm``), so
``torch.manual_seed`` makes a pipeline reproducible, and so does a ``DataLoader`` with ``num_workers > 0`` and a
seeded ``generator`` (torch seeds every worker from the loader's base seed). No torchvision needed.

Sizes are ``(height, width)`` everywhere, as in torchvision; an int means a square (or, for :class:`Resize`, the
length of the shorter side).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image, ImageEnhance

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CenterCrop",
    "ColorJitter",
    "Compose",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomRotation",
    "RandomScale",
    "RandomVerticalFlip",
    "Resize",
    "ToTensor",
    "pil_to_tensor",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
_NEAREST = Image.Resampling.NEAREST


# -- helpers ---------------------------------------------------------------------------------------------------------
def _resample(interpolation: str | int) -> Image.Resampling:
    if isinstance(interpolation, str):
        try:
            return _RESAMPLE[interpolation.lower()]
        except KeyError:
            raise ValueError(f"unknown interpolation {interpolation!r}; choose from {', '.join(_RESAMPLE)}") from None
    return Image.Resampling(interpolation)


def _size2(size: int | Sequence[int], what: str) -> tuple[int, int]:
    """``int`` -> ``(s, s)``; ``(h, w)`` -> ``(h, w)``; always positive ints."""
    if isinstance(size, numbers.Integral):
        h = w = int(size)
    elif isinstance(size, Sequence) and len(size) == 2:
        h, w = (int(s) for s in size)
    else:
        raise ValueError(f"{what} must be an int or (height, width), got {size!r}")
    if h < 1 or w < 1:
        raise ValueError(f"{what} must be positive, got {size!r}")
    return h, w


def _range(value: float | Sequence[float], what: str, *, center: float | None = None) -> tuple[float, float]:
    """A ``(lo, hi)`` pair; a single number ``d`` means ``(-d, d)`` or, with ``center``, ``(center-d, center+d)``."""
    if isinstance(value, numbers.Real):
        d = float(value)
        if d < 0:
            raise ValueError(f"{what} must be non-negative, got {value}")
        c = 0.0 if center is None else center
        return (c - d, c + d) if center is None else (max(0.0, c - d), c + d)
    if isinstance(value, Sequence) and len(value) == 2 and value[0] <= value[1]:
        return float(value[0]), float(value[1])
    raise ValueError(f"{what} must be a number or a (min, max) pair with min <= max, got {value!r}")


def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * torch.rand(()).item()


def _coin(p: float) -> bool:
    return torch.rand(()).item() < p


def _randint(low: int, high: int) -> int:
    """Uniform integer in ``[low, high]`` (both inclusive)."""
    return int(torch.randint(low, high + 1, ()).item())


def _require_pil(transform: object, image: Any, mask: Any) -> None:
    for what, x in (("image", image), ("mask", mask)):
        if x is not None and not isinstance(x, Image.Image):
            raise TypeError(
                f"{type(transform).__name__} expects PIL images, got a {type(x).__name__} {what}; "
                "put ToTensor()/Normalize() after the geometric and colour transforms"
            )
    if mask is not None and image.size != mask.size:
        raise ValueError(
            f"{type(transform).__name__}: image is {image.size[0]}x{image.size[1]} (WxH) but mask is "
            f"{mask.size[0]}x{mask.size[1]}"
        )


def _fill_for(img: Image.Image, fill: float | Sequence[float]) -> Any:
    """A PIL fill value for ``img``'s mode from a number or per-channel sequence."""
    bands = len(img.getbands())
    if isinstance(fill, numbers.Real):
        value = fill if img.mode in ("F", "I", "I;16") else int(fill)
        return value if bands == 1 else tuple([value] * bands)
    fill = [int(f) for f in fill]
    if len(fill) != bands:
        raise ValueError(f"fill {fill} has {len(fill)} values but the image has {bands} channels ({img.mode})")
    return fill[0] if bands == 1 else tuple(fill)


def _pad(img: Image.Image, left: int, top: int, right: int, bottom: int, fill: Any) -> Image.Image:
    if not (left or top or right or bottom):
        return img
    w, h = img.size
    out = Image.new(img.mode, (w + left + right, h + top + bottom), _fill_for(img, fill))
    if img.mode == "P":
        palette = img.getpalette()
        if palette:
            out.putpalette(palette)
    out.paste(img, (left, top))
    return out


def _check_mask_fill(mask: Image.Image | None, ignore_index: int) -> None:
    if mask is not None and mask.mode in ("L", "P") and not 0 <= ignore_index <= 255:
        raise ValueError(f"ignore_index={ignore_index} does not fit in an 8-bit ({mask.mode}) mask")


# -- transforms ------------------------------------------------------------------------------------------------------
class Compose:
    """Apply transforms in order: ``Compose([t1, t2])(image, mask) == t2(*t1(image, mask))``."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: Any, mask: Any = None) -> tuple[Any, Any]:
        for t in self.transforms:
            image, mask = t(image, mask)
        return image, mask

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Resize:
    """Resize to ``size``: an int resizes the shorter side to ``size`` keeping the aspect ratio (torchvision's rule:
    the longer side is ``int(size * long / short)``); ``(h, w)`` resizes to exactly that. ``max_size`` caps the longer
    side (int ``size`` only)."""

    def __init__(self, size: int | Sequence[int], interpolation: str | int = "bilinear", max_size: int | None = None):
        self.shorter = isinstance(size, numbers.Integral)
        self.size = _size2(size, "size")
        self.interpolation = interpolation
        self._resample = _resample(interpolation)
        if max_size is not None and (not self.shorter or max_size < self.size[0]):
            raise ValueError("max_size needs an int size not larger than max_size")
        self.max_size = max_size

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The ``(width, height)`` an input of that size is resized to."""
        if not self.shorter:
            return self.size[1], self.size[0]
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.size[0], int(self.size[0] * long / short)
        if self.max_size is not None and new_long > self.max_size:
            new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_short, new_long) if width <= height else (new_long, new_short)

    def __call__(self, image: Image.Image, mask: Image.Image | None = None):
        _require_pil(self, image, mask)
        size = self.output_size(*image.size)
        if size != image.size:
            image = image.resize(size, self._resample)
            mask = None if mask is None else mask.resize(size, _NEAREST)
        return image, mask

    def __repr__(self) -> str:
        size = self.size[0] if self.shorter else self.size
        return f"Resize(size={size}, interpolation={self.interpolation!r}, max_size={self.max_size})"


class RandomScale:
    """Resize both by a factor drawn uniformly from ``scale`` (``(min, max)``), e.g. ``(0.5, 2.0)``."""

    def __init__(self, scale: Sequence[float] = (0.5, 2.0), interpolation: str | int = "bilinear"):
        self.scale = _range(scale, "scale")
        if self.scale[0] <= 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        self.interpolation = interpolation
        self._resample = _resample(interpolation)

    def __call__(self, image: Image.Image, mask: Image.Image | None = None):
        _require_pil(self, image, mask)
        s = _uniform(*self.scale)
        w, h = image.size
        size = (max(1, round(w * s)), max(1, round(h * s)))
        if size != image.size:
            image = image.resize(size, self._resample)
            mask = None if mask is None else mask.resize(size, _NEAREST)
        return image, mask

    def __repr__(self) -> str:
        return f"RandomScale(scale={self.scale}, interpolation={self.interpolation!r})"


class RandomCrop:
    """Crop a random ``size`` window. Inputs smaller than ``size`` are first padded on the right and bottom: the
    image with ``fill``, the mask with ``ignore_index`` (so padding never counts in the loss)."""

    def __init__(self, size: int | Sequence[int], ignore_index: int = 255, fill: float | Sequence[float] = 0):
        self.size = _size2(size, "size")
        self.ignore_index = ignore_index
        self.fill = fill

    def __call__(self, image: Image.Image, mask: Image.Image | None = None):
        _require_pil(self, image, mask)
        _check_mask_fill(mask, self.ignore_index)
        th, tw = self.size
        w, h = image.size
        pad_w, pad_h = max(0, tw - w), max(0, th - h)
        if pad_w or pad_h:
            image = _pad(image, 0, 0, pad_w, pad_h, self.fill)
            mask = None if mask is None else _pad(mask, 0, 0, pad_w, pad_h, self.ignore_index)
            w, h = image.size
        top, left = _randint(0, h - th), _randint(0, w - tw)
        box = (left, top, left + tw, top + th)
        return image.crop(box), None if mask is None else mask.crop(box)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, ignore_index={self.ignore_index}, fill={self.fill})"


class CenterCrop:
    """Crop the central ``size`` window; smaller inputs are padded evenly on all sides (image ``fill``, mask
    ``ignore_index``)."""

    def __init__(self, size: int | Sequence[int], ignore_index: int = 255, fill: float | Sequence[float] = 0):
        self.size = _size2(size, "size")
        self.ignore_index = ignore_index
        self.fill = fill

    def __call__(self, image: Image.Image, mask: Image.Image | None = None):
        _require_pil(self, image, mask)
        _check_mask_fill(mask, self.ignore_index)
        th, tw = self.size
        w, h = image.size
        pad_w, pad_h = max(0, tw - w), max(0, th - h)
        if pad_w or pad_h:
            pads = (pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2)
            image = _pad(image, *pads, self.fill)
            mask = None if mask is None else _pad(mask, *pads, self.ignore_index)
            w, h = image.size
        top, left = (h - th) // 2, (w - tw) // 2
        box = (left, top, left + tw, top + th)
        return image.crop(box), None if mask is None else mask.crop(box)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size}, ignore_index={self.ignore_index}, fill={self.fill})"


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    _method = Image.Transpose.FLIP_LEFT_RIGHT

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image: Image.Image, mask: Image.Image | None = None):
        _require_pil(self, image, mask)
        if _coin(self.p):
            image = image.transpose(self._method)
            mask = None if mask is None else mask.transpose(self._method)
        return image, mask

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top-bottom with probability ``p``."""

    _method = Image.Transpose.FLIP_TOP_BOTTOM


class RandomRotation:
    """Rotate by an angle drawn uniformly from ``degrees`` (a number ``d`` means ``(-d, d)``; counter-clockwise,
    around the centre). Corners the rotation uncovers get ``fill`` in the image and ``ignore_index`` in the mask.
    ``expand=True`` enlarges the output to hold the whole rotated image."""

    def __init__(
        self,
        degrees: float | Sequence[float],
        interpolation: str | int = "bilinear",
        expand: bool = False,
        fill: float | Sequence[float] = 0,
        ignore_index: int = 255,
    ) -> None:
        self.degrees = _range(degrees, "degrees")
        self.interpolation = interpolation
        self._resample = _resample(interpolation)
        if self._resample not in (Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC):
            raise ValueError("RandomRotation supports nearest, bilinear and bicubic interpolation")
        self.expand = expand
        self.fill = fill
        self.ignore_index = ignore_index

    def __call__(self, image: Image.Image, mask: Image.Image | None = None):
        _require_pil(self, image, mask)
        _check_mask_fill(mask, self.ignore_index)
        angle = _uniform(*self.degrees)
        image = image.rotate(angle, self._resample, expand=self.expand, fillcolor=_fill_for(image, self.fill))
        if mask is not None:
            mask = mask.rotate(angle, _NEAREST, expand=self.expand, fillcolor=_fill_for(mask, self.ignore_index))
        return image, mask

    def __repr__(self) -> str:
        return (
            f"RandomRotation(degrees={self.degrees}, interpolation={self.interpolation!r}, expand={self.expand}, "
            f"fill={self.fill}, ignore_index={self.ignore_index})"
        )


class ColorJitter:
    """Randomly change brightness, contrast, saturation and hue of the image (never the mask), in a random order.

    Each of ``brightness``, ``contrast``, ``saturation`` is a number ``d`` (factor drawn from ``[max(0, 1-d), 1+d]``)
    or a ``(min, max)`` factor range; ``hue`` is ``h`` in ``[0, 0.5]`` (shift drawn from ``[-h, h]`` of a full turn)
    or a range within ``[-0.5, 0.5]``. Same meaning as torchvision's ``ColorJitter``, implemented with
    ``PIL.ImageEnhance`` and an HSV shift. Saturation and hue leave grayscale ('L') images unchanged.
    """

    def __init__(
        self,
        brightness: float | Sequence[float] = 0,
        contrast: float | Sequence[float] = 0,
        saturation: float | Sequence[float] = 0,
        hue: float | Sequence[float] = 0,
    ) -> None:
        self.brightness = _range(brightness, "brightness", center=1.0)
        self.contrast = _range(contrast, "contrast", center=1.0)
        self.saturation = _range(saturation, "saturation", center=1.0)
        self.hue = _range(hue, "hue")
        if not -0.5 <= self.hue[0] <= self.hue[1] <= 0.5:
            raise ValueError(f"hue must be within [-0.5, 0.5], got {hue!r}")

    def __call__(self, image: Image.Image, mask: Image.Image | None = None):
        if not isinstance(image, Image.Image):
            raise TypeError(f"ColorJitter expects a PIL image, got {type(image).__name__}; put it before ToTensor()")
        # Draw every random number, whether or not the image can use it, so the RNG stream does not depend on it.
        order = torch.randperm(4).tolist()
        factors = [_uniform(*r) for r in (self.brightness, self.contrast, self.saturation, self.hue)]
        color = image.mode in ("RGB", "RGBA")
        for op in order:
            f = factors[op]
            if op == 0 and self.brightness != (1.0, 1.0):
                image = ImageEnhance.Brightness(image).enhance(f)
            elif op == 1 and self.contrast != (1.0, 1.0):
                image = ImageEnhance.Contrast(image).enhance(f)
            elif op == 2 and color and self.saturation != (1.0, 1.0):
                image = ImageEnhance.Color(image).enhance(f)
            elif op == 3 and color and self.hue != (0.0, 0.0):
                image = _shift_hue(image, f)
        return image, mask

    def __repr__(self) -> str:
        return (
            f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation}, "
            f"hue={self.hue})"
        )


def _shift_hue(image: Image.Image, shift: float) -> Image.Image:
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    h, s, v = image.convert("RGB").convert("HSV").split()
    delta = int(round(shift * 255))
    h = h.point([(x + delta) % 256 for x in range(256)])
    out = Image.merge("HSV", (h, s, v)).convert("RGB")
    if alpha is not None:
        out.putalpha(alpha)
    return out


def pil_to_tensor(img: Image.Image) -> Any:
    """The raw pixels of ``img`` as a ``(H, W)`` (one band) or ``(H, W, C)`` tensor of the mode's dtype: uint8 for
    'L'/'P'/'RGB'/'RGBA', int32 for 'I' (and 'I;16', converted), float32 for 'F'. Does not need numpy."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        img = img.convert("I")
    dtype = {"I": torch.int32, "F": torch.float32}.get(img.mode, torch.uint8)
    if img.mode not in ("I", "F", "L", "P", "RGB", "RGBA", "LA", "1", "CMYK", "YCbCr", "HSV", "LAB"):
        raise TypeError(f"cannot convert a PIL image of mode {img.mode!r} to a tensor")
    if img.mode == "1":
        img = img.convert("L")
    raw = img.tobytes()
    t = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
    bands = len(img.getbands())
    w, h = img.size
    return t.view(h, w) if bands == 1 else t.view(h, w, bands)


class ToTensor:
    """Image -> float32 ``(C, H, W)`` scaled to ``[0, 1]`` (8-bit images divided by 255, 16-bit by 65535; 'F' kept);
    mask -> int64 ``(H, W)`` of the raw values (class indices). Palette ('P') images are converted to RGB first;
    palette masks keep their indices."""

    def __call__(self, image: Any, mask: Any = None):
        if isinstance(image, Image.Image):
            scale = 65535.0 if image.mode.startswith("I;16") else 255.0
            if image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            t = pil_to_tensor(image)
            t = t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)
            image = t.to(torch.float32)
            if t.dtype == torch.uint8 or scale == 65535.0:
                image = image.div_(scale)
            image = image.contiguous()
        if isinstance(mask, Image.Image):
            t = pil_to_tensor(mask)
            if t.ndim != 2:
                raise ValueError(f"a mask must have one channel, got mode {mask.mode!r}")
            mask = t.to(torch.int64)
        return image, mask

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(image - mean) / std`` per channel, on the float tensor from :class:`ToTensor` (so ``mean``/``std`` are on
    the 0..1 scale, e.g. :data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`). The mask is unchanged."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ValueError(f"mean and std need the same length and std > 0, got {mean!r} and {std!r}")

    def __call__(self, image: Any, mask: Any = None):
        if not isinstance(image, torch.Tensor) or not image.is_floating_point():
            raise TypeError(f"Normalize expects a float tensor image, got {type(image).__name__}; put ToTensor() first")
        channels = image.shape[-3]
        if channels != len(self.mean):
            raise ValueError(f"Normalize has {len(self.mean)} mean/std values but the image has {channels} channels")
        mean = torch.tensor(self.mean, dtype=image.dtype, device=image.device).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=image.dtype, device=image.device).view(-1, 1, 1)
        return (image - mean) / std, mask

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"
