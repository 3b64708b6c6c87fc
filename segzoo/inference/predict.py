"""Predicting masks for image files and drawing them: palette mask PNGs and coloured overlays with a legend."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont

from segzoo._plugins import registries
from segzoo.data.base import colorize, voc_colormap
from segzoo.errors import SegzooError
from segzoo.inference.modes import infer
from segzoo.nn.functional import class_map

log = logging.getLogger("segzoo")

__all__ = ["mask_image", "overlay", "predict_image", "resolve_palette", "save_prediction"]


def resolve_palette(model: Any, dataset: str | None = None) -> tuple[list[list[int]], str]:
    """Class colours for ``model`` and where they come from: ``model.config["palette"]``, the named registered
    dataset's palette, a registered dataset whose class names equal the model's, or VOC's generated colour map."""
    config = getattr(model, "config", {}) or {}
    n = int(getattr(model, "num_classes", 0) or config.get("num_classes", 0))
    if config.get("palette"):
        return [list(c) for c in config["palette"]], "model config"
    datasets = registries().datasets
    if dataset is not None:
        meta = datasets.get(dataset).metadata
        if meta.get("palette"):
            palette = [list(c) for c in meta["palette"]]
            return palette + voc_colormap(max(n, len(palette)))[len(palette) :], f"dataset {dataset}"
    names = [str(c).lower() for c in config.get("class_names") or []]
    if names:
        for entry in datasets:
            classes = [str(c).lower() for c in entry.metadata.get("classes") or []]
            if classes == names and entry.metadata.get("palette"):
                return [list(c) for c in entry.metadata["palette"]], f"dataset {entry.name}"
    return voc_colormap(max(n, 1)), "generated (VOC colour map)"


def class_names_of(model: Any, dataset: str | None = None) -> list[str]:
    """The model's class names; else the named registered dataset's (same class count); else "class k"."""
    config = getattr(model, "config", {}) or {}
    n = int(getattr(model, "num_classes", 0) or config.get("num_classes", 0))
    names = list(config.get("class_names") or [])
    if len(names) == n:
        return names
    if dataset is not None:
        classes = list(registries().datasets.get(dataset).metadata.get("classes") or [])
        if len(classes) == n:
            return classes
    return [f"class {k}" for k in range(n)]


def predict_image(engine: Any, image: Image.Image, preprocessing: Any, settings: Any = None) -> torch.Tensor:
    """Class ids ``(H, W)`` (int64) at the image's own size."""
    x = preprocessing(image)[None]
    scores = infer(engine, x, settings)
    w, h = image.size
    return class_map(scores, (h, w), align_corners=bool(getattr(engine, "align_corners", False)))[0].cpu()


def mask_image(mask: torch.Tensor, palette: Sequence[Sequence[int]] | None = None) -> Image.Image:
    """A mask PNG image: palette mode 'P' (pixel values = class ids, colours from ``palette``) for up to 256
    classes, else 32-bit 'I'."""
    mask = mask.to(torch.int64)
    h, w = mask.shape
    if mask.numel() and (int(mask.min()) < 0 or int(mask.max()) > 255):
        return Image.frombytes("I", (w, h), mask.to(torch.int32).contiguous().numpy().tobytes())
    img = Image.frombytes("P", (w, h), mask.to(torch.uint8).contiguous().numpy().tobytes())
    if palette is not None:
        flat: list[int] = []
        for c in list(palette)[:256]:
            flat.extend(int(v) for v in c)
        img.putpalette(flat + [0] * (768 - len(flat)))
    return img


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def overlay(
    image: Image.Image,
    mask: torch.Tensor,
    palette: Sequence[Sequence[int]],
    class_names: Sequence[str],
    *,
    alpha: float = 0.5,
    legend: bool = True,
) -> Image.Image:
    """``image`` alpha-blended with the coloured mask, plus a side panel listing (colour swatch, class name) for
    every class present in the mask."""
    base = image.convert("RGB")
    colored = colorize(mask, palette)
    blended = Image.blend(base, colored, alpha)
    if not legend:
        return blended
    present = [int(k) for k in torch.unique(mask).tolist() if 0 <= int(k) < len(palette)]
    w, h = blended.size
    font_size = max(10, min(18, h // 24))
    font = _font(font_size)
    row = font_size + 8
    draw_probe = ImageDraw.Draw(blended)
    names = [class_names[k] if k < len(class_names) else f"class {k}" for k in present]
    text_w = max((int(draw_probe.textlength(t, font=font)) for t in names), default=0)
    panel_w = row + 12 + text_w + 12
    canvas = Image.new("RGB", (w + panel_w, max(h, row * len(present) + 8)), (255, 255, 255))
    canvas.paste(blended, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, (k, name) in enumerate(zip(present, names, strict=True)):
        y = 4 + i * row
        x = w + 8
        draw.rectangle([x, y + 2, x + row - 6, y + row - 4], fill=tuple(int(c) for c in palette[k]), outline=(0, 0, 0))
        draw.text((x + row + 2, y + 2), name, fill=(0, 0, 0), font=font)
    return canvas


def save_prediction(
    image_path: Path,
    mask: torch.Tensor,
    out_dir: Path,
    palette: Sequence[Sequence[int]],
    class_names: Sequence[str],
    *,
    image: Image.Image | None = None,
    alpha: float = 0.5,
) -> dict[str, Any]:
    """Write ``<stem>_mask.png`` and ``<stem>_overlay.png`` to ``out_dir``; returns paths and the classes present."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(image_path).stem
    mask_path = out_dir / f"{stem}_mask.png"
    overlay_path = out_dir / f"{stem}_overlay.png"
    mask_image(mask, palette).save(mask_path)
    if image is None:
        image = open_input(image_path)
    overlay(image, mask, palette, class_names, alpha=alpha).save(overlay_path)
    counts = torch.bincount(mask.reshape(-1).clamp(min=0), minlength=len(class_names))
    total = max(1, mask.numel())
    present = {
        class_names[k] if k < len(class_names) else str(k): round(float(c) / total, 6)
        for k, c in enumerate(counts.tolist())
        if c
    }
    return {"image": str(image_path), "mask": str(mask_path), "overlay": str(overlay_path), "classes": present}


def open_input(path: Path, *, decode: bool = True) -> Image.Image:
    """The decoded image, or a one-line error: missing, not an image, or over Pillow's decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS``; Pillow only warns up to twice the limit, segzoo refuses from the limit on).
    ``decode=False`` reads only the header: the checks for every input, before a model is loaded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if decode:
                    im.load()
                return im
    except FileNotFoundError:
        raise SegzooError(f"image {path} does not exist") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SegzooError(
            f"image {path} has more pixels than Pillow's limit of {Image.MAX_IMAGE_PIXELS:,} "
            "(PIL.Image.MAX_IMAGE_PIXELS), a guard against decompression bombs; downscale it"
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise SegzooError(f"cannot read image {path}: {err}") from None
