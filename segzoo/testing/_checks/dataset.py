"""The checks of a dataset, read from real or generated data."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import SkipTest

import torch
from PIL import Image

import segzoo
from segzoo.data.transforms import Compose, Normalize, ToTensor
from segzoo.testing._checks.base import Check, Shared, registries

__all__ = ["dataset_checks"]


def dataset_checks(
    name: str,
    root: str | Path | Callable[[Path], str | Path] | None,
    *,
    split: str | None = None,
    options: dict[str, Any] | None = None,
    max_items: int = 3,
) -> list[Check]:
    """The checks of dataset ``name`` read from ``root`` (first ``max_items`` items).

    ``root`` is a folder, or a callable that writes example data into the empty folder it is given and returns the
    root (e.g. the template's ``make_synthetic``); ``None`` skips all but the registration check. Registration
    metadata: ``classes``, ``ignore_index``, ``splits``, ``homepage``, ``license``, ``palette``; a generic dataset
    (a folder of any classes) registers ``classes=[]`` and takes them as options (``options={"classes": [...]}``
    here). Instance: the same ``classes``/``ignore_index``/``palette``/``homepage``/``license``, ``num_classes``,
    ``split``, ``files`` (one (image, mask) path pair per item, or empty for a synthetic dataset). Items: ``(PIL
    image RGB or L, PIL mask L or I)`` of the same size, mask values in ``range(num_classes)`` or ``ignore_index``;
    a joint ``transform(image, mask)`` is applied to both, and ``ToTensor()`` + ``Normalize()`` give ``(float32 (C,
    H, W), int64 (H, W))``.
    """
    meta = registries().datasets.get(name).metadata
    splits = list(meta.get("splits") or ["train"])
    split = split or ("train" if "train" in splits else splits[0])
    options = dict(options or {})
    generic = not meta.get("classes")  # the classes (and colours) are options of each instance
    classes = list(options.get("classes", []) if generic else meta.get("classes", []))
    ignore_index = options.get("ignore_index", meta.get("ignore_index")) if generic else meta.get("ignore_index")
    folder: list[tempfile.TemporaryDirectory] = []

    def data_root() -> Path:
        if not callable(root):
            return Path(root)
        folder.append(tempfile.TemporaryDirectory(prefix=f"segzoo-contract-{name}-"))
        return Path(root(Path(folder[-1].name)))

    def build() -> tuple[Path, Any]:
        path = data_root()
        return path, segzoo.create_dataset(name, path, split=split, **options)

    def metadata() -> str | None:
        missing = [k for k in ("classes", "ignore_index", "splits", "homepage", "license", "palette") if k not in meta]
        assert not missing, f"register(...) lacks metadata {missing}"
        if generic:
            return "a generic dataset: classes=[], given as options"
        assert meta["classes"] and all(isinstance(c, str) for c in meta["classes"]), "classes must be names"
        assert meta["ignore_index"] is None or isinstance(meta["ignore_index"], int), "ignore_index: int or None"
        assert len(meta["palette"]) == len(meta["classes"]), (
            f"{len(meta['palette'])} palette colours for {len(meta['classes'])} classes"
        )
        assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in meta["palette"]), "palette: [r, g, b]"
        return None

    def attributes(path: Path, dataset: Any) -> str | None:
        for attr, value in (
            ("classes", classes),
            ("ignore_index", ignore_index),
            ("split", split),
            ("num_classes", len(classes)),
        ):
            got = list(getattr(dataset, attr)) if attr == "classes" else getattr(dataset, attr, "<missing>")
            assert got == value, f"dataset.{attr} is {got!r}, expected {value!r}"
        palette = [list(c) for c in dataset.palette]
        if generic:
            assert len(palette) >= len(classes), f"{len(palette)} palette colours for {len(classes)} classes"
        else:
            assert palette == [list(c) for c in meta.get("palette", [])], "dataset.palette differs from the metadata"
        for attr in ("homepage", "license"):  # the class's own homepage is what its "data not found" error names
            got = getattr(dataset, attr, meta.get(attr))
            assert got == meta.get(attr), f"dataset.{attr} is {got!r}, but it was registered with {meta.get(attr)!r}"
        assert len(dataset) > 0, f"split {split!r} under {path} is empty"
        assert len(dataset.files) in (0, len(dataset)), f"{len(dataset.files)} files for {len(dataset)} items"
        assert all(len(pair) == 2 and all(Path(p).exists() for p in pair) for pair in dataset.files[:max_items]), (
            "dataset.files must hold existing (image_path, mask_path) pairs"
        )
        return "no files (a synthetic dataset)" if len(dataset.files) == 0 else None

    def items(path: Path, dataset: Any) -> None:
        for i in range(min(max_items, len(dataset))):
            _check_item(dataset, i)

    def transform(path: Path, dataset: Any) -> None:
        calls = []

        def record(image, mask):
            calls.append((image.size, mask.size))
            return image, mask

        channels = len(dataset[0][0].getbands())  # RGB or L: normalise each channel
        dataset = segzoo.create_dataset(
            name,
            path,
            split=split,
            **options,
            transform=Compose([record, ToTensor(), Normalize([0.5] * channels, [0.25] * channels)]),
        )
        image, mask = dataset[0]
        assert calls, "the transform was not called"
        assert isinstance(image, torch.Tensor) and image.dtype == torch.float32 and image.dim() == 3, (
            f"transformed image: {type(image).__name__} {getattr(image, 'dtype', '')}, expected float32 (C, H, W)"
        )
        assert isinstance(mask, torch.Tensor) and mask.dtype == torch.int64 and mask.shape == image.shape[1:], (
            f"transformed mask: {getattr(mask, 'dtype', type(mask))} {tuple(getattr(mask, 'shape', ()))}, "
            f"expected int64 {tuple(image.shape[1:])}"
        )

    shared = Shared(build, 3)

    def runner(check: Callable[[Path, Any], str | None]) -> Callable[[], str | None]:
        def run() -> str | None:
            if root is None:
                raise SkipTest(
                    f"no data for dataset {name!r}: pass its root (or a callable that writes example "
                    "data), e.g. settings={name: {'root': make_synthetic}}"
                )
            try:
                with shared.use() as (path, dataset):
                    return check(path, dataset)
            finally:
                if shared._users <= 0 and folder:  # the last check removes the example data
                    folder.pop().cleanup()

        return run

    return [
        Check("dataset", name, "metadata", metadata),
        *(Check("dataset", name, c.__name__, runner(c)) for c in (attributes, items, transform)),
    ]


def _check_item(dataset, i: int) -> None:
    import numpy as np  # not a dependency of segzoo (torch runs without it); only this check uses it

    image, mask = dataset[i]
    assert isinstance(image, Image.Image) and image.mode in ("RGB", "L"), (
        f"item {i}: image is {type(image).__name__} {getattr(image, 'mode', '')}, expected a PIL image, RGB or L"
    )
    assert isinstance(mask, Image.Image) and mask.mode in ("L", "I"), (
        f"item {i}: mask is {type(mask).__name__} {getattr(mask, 'mode', '')}, expected a PIL image, L or I"
    )
    assert image.size == mask.size, f"item {i}: image {image.size} and mask {mask.size} differ in size"
    values = set(np.unique(np.asarray(mask)).tolist())
    allowed = set(range(dataset.num_classes)) | ({dataset.ignore_index} if dataset.ignore_index is not None else set())
    assert values <= allowed, (
        f"item {i}: mask values {sorted(values - allowed)[:5]} are neither classes nor ignore_index"
    )
