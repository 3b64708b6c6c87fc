"""A synthetic dataset of coloured circles and rectangles on noise, for unit tests and smoke runs (no files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from segzoo.data import DatasetError, SegmentationDataset, voc_colormap
from segzoo_datasets._meta import info

_INFO = info("shapes")
_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def shape_classes(num_classes: int) -> list[str]:
    """``background`` then alternating circles and rectangles: odd ids are circles, even ids rectangles."""
    names = ["background"]
    for k in range(1, num_classes):
        kind = "circle" if k % 2 else "rectangle"
        names.append(kind if num_classes <= 3 else f"{kind}_{(k + 1) // 2}")
    return names


class Shapes(SegmentationDataset):
    """Deterministic synthetic images: ``length`` samples of ``size`` (int or ``(h, w)``) pixels, each with 1 to
    ``max_shapes`` filled shapes on a noisy gray background. Class ``k >= 1`` is a circle (odd ``k``) or a rectangle
    (even ``k``) drawn in ``palette[k]``; 0 is background. Sample ``i`` of a split depends only on ``(seed, split,
    i)``, never on the global RNG. ``noise`` (0..1) blends uniform noise into the image. ``root`` is ignored (pass
    None). Has no files: ``files`` is empty.
    """

    name = "shapes"
    classes = _INFO["classes"]
    palette = _INFO["palette"]
    ignore_index = _INFO["ignore_index"]
    splits = tuple(_INFO["splits"])
    sizes = _INFO.get("sizes", {})
    homepage = _INFO["homepage"]
    license = _INFO["license"]

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "train",
        transform=None,
        *,
        length: int = 64,
        size: int | Sequence[int] = 64,
        num_classes: int = 3,
        max_shapes: int = 4,
        seed: int = 0,
        noise: float = 0.2,
        check_values: bool = True,
    ) -> None:
        if num_classes < 2 or num_classes > 255:
            raise DatasetError(f"shapes needs 2 <= num_classes <= 255, got {num_classes}")
        if length < 0 or max_shapes < 1 or not 0 <= noise <= 1:
            raise DatasetError("shapes needs length >= 0, max_shapes >= 1 and 0 <= noise <= 1")
        self.length = int(length)
        self.size = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
        if min(self.size) < 8:
            raise DatasetError(f"shapes size must be at least 8 pixels, got {size!r}")
        self.max_shapes = max_shapes
        self.seed = seed
        self.noise = noise
        self.classes = shape_classes(num_classes)
        self.palette = voc_colormap(num_classes)
        self._cache: tuple[int, tuple[Image.Image, Image.Image]] | None = None
        super().__init__(root, split, transform, check_values=check_values)

    def _check_root(self) -> None:
        pass  # no files

    def find_files(self) -> list:
        return []

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"Shapes(split={self.split!r}, length={self.length}, size={self.size}, classes={self.num_classes})"

    def _index(self, index: int) -> int:
        if not -self.length <= index < self.length:
            raise IndexError(f"shapes index {index} out of range for {self.length} samples")
        return index % self.length

    def load_pair(self, index: int) -> tuple[Image.Image, Image.Image]:
        index = self._index(index)
        if self._cache is None or self._cache[0] != index:
            self._cache = (index, self._generate(index))
        image, mask = self._cache[1]
        return image.copy(), mask.copy()

    def load_image(self, index: int) -> Image.Image:
        return self.load_pair(index)[0]

    def load_mask(self, index: int, *, check: bool | None = None) -> Image.Image:
        return self.load_pair(index)[1]

    def image_size(self, index: int) -> tuple[int, int]:
        self._index(index)
        return self.size[1], self.size[0]

    def _generate(self, index: int) -> tuple[Image.Image, Image.Image]:
        seed = ((self.seed * 1_000_003 + _SPLIT_IDS[self.split]) * 1_000_003 + index) % (2**63)
        g = torch.Generator().manual_seed(seed)
        h, w = self.size

        def rand() -> float:
            return torch.rand((), generator=g).item()

        gray = int(64 + 128 * rand())
        image = Image.new("RGB", (w, h), (gray, gray, gray))
        mask = Image.new("L", (w, h), 0)
        draw, mdraw = ImageDraw.Draw(image), ImageDraw.Draw(mask)
        count = int(torch.randint(1, self.max_shapes + 1, (), generator=g))
        short = min(h, w)
        for _ in range(count):
            cls = int(torch.randint(1, self.num_classes, (), generator=g))
            cx, cy = rand() * (w - 1), rand() * (h - 1)
            rx = short * (0.08 + 0.17 * rand())
            ry = rx if cls % 2 else short * (0.08 + 0.17 * rand())
            box = [cx - rx, cy - ry, cx + rx, cy + ry]
            color = tuple(self.palette[cls])
            if cls % 2:
                draw.ellipse(box, fill=color)
                mdraw.ellipse(box, fill=cls)
            else:
                draw.rectangle(box, fill=color)
                mdraw.rectangle(box, fill=cls)
        if self.noise > 0:
            noise = (torch.rand(h, w, 3, generator=g) * 255).to(torch.uint8)
            image = Image.blend(image, Image.frombytes("RGB", (w, h), bytes(noise.untyped_storage())), self.noise)
        return image, mask
