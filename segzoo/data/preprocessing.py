"""Turning a PIL image into the model's input, as ``model.config["preprocessing"]`` says: ``model.transforms()``.

It travels with the weights (the catalog entry's ``preprocessing``, saved in ``config.json``), in the spirit of
torchvision's ``weights.transforms()``; eval, bench, predict and users get it from the model.

Keys used (the catalog schema): ``mean`` and ``std`` (per channel, on 0..1 inputs), ``resize`` (``{"shorter_side":
N}`` keeps the aspect ratio with torchvision's rule, ``{"height": H, "width": W}`` resizes to exactly that,
``{"max_long_side": L, "max_short_side": S}`` is mmsegmentation's keep-ratio test resize, absent or ``None``: no
resize) and ``interpolation`` (bilinear, bicubic, nearest). ``ignore_index`` and ``reduce_zero_label`` describe
labels; segzoo's datasets already return training ids, so evaluation takes the dataset's ``ignore_index``. A model
without a ``preprocessing`` entry (e.g. one built with ``segzoo.create``) gets ImageNet mean/std and no
resize. Statistics for another number of channels than the model's are adapted by :func:`channel_stats` (a
one-channel model averages them), the rule ``segzoo train`` normalises with and records in the model it writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from segzoo.data.transforms import Normalize, ToTensor
from segzoo.errors import SegzooError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Preprocessing", "channel_stats", "parse_resize"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Preprocessing:
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    resize: Mapping[str, int] | None = None
    interpolation: str = "bilinear"
    in_channels: int = 3
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, in_channels: int = 3) -> Preprocessing:
        config = dict(config or {})
        mean = config.pop("mean", None)
        std = config.pop("std", None)
        if not mean or not std:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        mean, std = channel_stats(mean, std, in_channels)
        resize = config.pop("resize", None) or None
        interpolation = config.pop("interpolation", "bilinear") or "bilinear"
        pre = cls(mean, std, resize, interpolation, in_channels, config)
        pre._check()
        return pre

    @classmethod
    def from_model(cls, model: Any, *, resize: bool = True, override: str | None = None) -> Preprocessing:
        """The model's preprocessing; ``resize=False`` drops the resize (evaluate at the image's own size);
        ``override``: ``"N"`` (shorter side) or ``"HxW"`` replaces it (``--resize`` of eval, bench, predict)."""
        config = dict(getattr(model, "config", {}) or {})
        in_channels = int(config.get("in_channels", 3) or 3)
        pre = cls.from_config(config.get("preprocessing"), in_channels)
        if not resize:
            pre.resize = None
        if override:
            pre.resize = parse_resize(override)
        return pre

    def _check(self) -> None:
        if len(self.mean) != len(self.std):
            raise SegzooError(f"preprocessing mean {list(self.mean)} and std {list(self.std)} differ in length")
        if self.interpolation not in ("bilinear", "bicubic", "nearest"):
            raise SegzooError(f"unknown preprocessing interpolation {self.interpolation!r}")
        if self.resize is not None:
            keys = set(self.resize)
            if keys not in ({"shorter_side"}, {"height", "width"}, {"max_long_side", "max_short_side"}):
                raise SegzooError(
                    f"preprocessing resize {dict(self.resize)} is not understood; use {{'shorter_side': N}}, "
                    "{'height': H, 'width': W} or {'max_long_side': L, 'max_short_side': S}"
                )

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": None if self.resize is None else dict(self.resize),
            "interpolation": self.interpolation,
        }

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` an image of that size is resized to."""
        if self.resize is None:
            return width, height
        if "shorter_side" in self.resize:
            s = int(self.resize["shorter_side"])
            if width <= height:
                return s, int(s * height / width)
            return int(s * width / height), s
        if "max_long_side" in self.resize:  # mmseg's keep_ratio Resize: the largest scale within both limits
            factor = min(
                int(self.resize["max_long_side"]) / max(width, height),
                int(self.resize["max_short_side"]) / min(width, height),
            )
            return int(width * factor + 0.5), int(height * factor + 0.5)
        return int(self.resize["width"]), int(self.resize["height"])

    def resize_image(self, image: Image.Image) -> Image.Image:
        size = self.output_size(*image.size)
        if size == image.size:
            return image
        resample = {
            "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC,
            "nearest": Image.Resampling.NEAREST,
        }[self.interpolation]
        return image.resize(size, resample)

    def convert(self, image: Image.Image) -> Image.Image:
        mode = "L" if self.in_channels == 1 else "RGB"
        return image if image.mode == mode else image.convert(mode)

    def __call__(self, image: Image.Image):
        """PIL image -> normalised float32 tensor ``(C, H, W)`` at the resized size."""
        tensor, _ = ToTensor()(self.resize_image(self.convert(image)))
        if tensor.shape[0] != len(self.mean):
            raise SegzooError(
                f"the image has {tensor.shape[0]} channels but preprocessing has {len(self.mean)} mean/std values"
            )
        return Normalize(self.mean, self.std)(tensor)[0]


def channel_stats(mean: Sequence[float], std: Sequence[float], channels: int) -> tuple[list[float], list[float]]:
    """``(mean, std)`` with one value per input channel: unchanged when the counts agree; otherwise one channel gets
    their average (a grayscale model from RGB statistics), two or three ImageNet's first values, more 0.5/0.25."""
    if len(mean) != channels and len(mean) == len(std):
        if channels == 1:
            mean, std = [sum(mean) / len(mean)], [sum(std) / len(std)]
        elif channels <= len(IMAGENET_MEAN):
            mean, std = IMAGENET_MEAN[:channels], IMAGENET_STD[:channels]
        else:
            mean, std = [0.5] * channels, [0.25] * channels
    return [float(m) for m in mean], [float(s) for s in std]


def parse_resize(text: str) -> dict[str, int]:
    """``"N"`` -> ``{"shorter_side": N}``, ``"HxW"`` -> ``{"height": H, "width": W}``; SegzooError otherwise."""
    parts = str(text).lower().split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise SegzooError(f"--resize expects N or HxW with positive sizes, got {text!r}")
    return {"shorter_side": sizes[0]} if len(sizes) == 1 else {"height": sizes[0], "width": sizes[1]}
