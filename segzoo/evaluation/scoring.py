"""Evaluate a model on a dataset split: metrics from :mod:`segzoo.metrics`, plus where the time went.

Images are read, resized and normalised in DataLoader workers (``num_workers``, ``prefetch_factor``; by default none
on machines with at most two cores, see :func:`default_num_workers`) while the main process runs the model;
predictions are resized back to each mask's own size (mmsegmentation's protocol: metrics at the original
resolution). ``timing`` reports wall time split into model forward (``model_s``), waiting for data and moving it to
the device (``data_wait_s``) and the rest (resizing back, class map, metric updates: ``post_s``), and
``model_time_share`` =
``model_s / wall_s``: close to 1 means the data pipeline is not the bottleneck.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from tqdm.auto import tqdm

from segzoo._boundary import read_item
from segzoo.data.transforms import pil_to_tensor
from segzoo.errors import SegzooError
from segzoo.evaluation import sharding
from segzoo.inference.modes import InferenceSettings, infer
from segzoo.inference.preprocessing import Preprocessing
from segzoo.metrics import BoundaryF1, ConfusionMatrix
from segzoo.nn.functional import class_map

log = logging.getLogger("segzoo")

__all__ = ["EvalDataset", "PreparedSplit", "check_classes", "evaluate", "prepare_split"]


class EvalDataset(torch.utils.data.Dataset):
    """Wraps a segzoo dataset: ``(normalised image (C, h, w), mask (H, W) at the original size, index)``.

    Masks keep their integer dtype (uint8 for 8-bit label PNGs): they cross from the DataLoader workers through
    shared memory, and int64 would make them 8x larger than they are on disk."""

    def __init__(self, dataset: Any, preprocessing: Any, limit: int | None = None) -> None:
        self.dataset = dataset
        self.preprocessing = preprocessing
        self.length = len(dataset) if limit is None else min(len(dataset), int(limit))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        image, mask = read_item(self.dataset, index)
        if isinstance(image, Image.Image):
            image = self.preprocessing(image)
        if isinstance(mask, Image.Image):
            if mask.mode == "P":
                mask = Image.frombytes("L", mask.size, mask.tobytes())
            mask = pil_to_tensor(mask)
        mask = torch.as_tensor(mask)
        if mask.is_floating_point():
            raise SegzooError(f"{type(self.dataset).__name__} returned a floating-point mask; masks hold class ids")
        return image, mask, index


class PreparedSplit(torch.utils.data.Dataset):
    """A split decoded and preprocessed once and held in memory, for evaluations that share it (``segzoo bench``
    runs every model, and bf16 with its fp32 reference, on the same images): they then time the model and the
    scoring, not PNG decoding again. Built by :func:`prepare_split`; carries the dataset's class metadata."""

    def __init__(self, samples: list[tuple], dataset: Any, preprocessing: Any, seconds: float) -> None:
        self.samples = samples
        self.classes = list(getattr(dataset, "classes", []) or [])
        self.num_classes = getattr(dataset, "num_classes", len(self.classes))
        self.ignore_index = getattr(dataset, "ignore_index", None)
        self.preprocessing = preprocessing.as_dict()
        self.seconds = seconds
        self.nbytes = sum(t.numel() * t.element_size() for s in samples for t in s[:2])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        return self.samples[index]

    def describe(self) -> dict[str, Any]:
        return {"images": len(self), "mib": round(self.nbytes / 2**20, 1), "decode_s": round(self.seconds, 2)}


def prepare_split(
    dataset: Any,
    preprocessing: Any,
    *,
    limit: int | None = None,
    budget_mb: float = 2048,
    num_workers: int | None = None,
) -> PreparedSplit | None:
    """The split as a :class:`PreparedSplit`, or None when it would take more than ``budget_mb`` of memory
    (estimated from the first sample; the evaluation then streams from disk)."""
    data = EvalDataset(dataset, preprocessing, limit)
    if len(data) == 0 or budget_mb <= 0:
        return None
    start = time.perf_counter()
    workers = default_num_workers(len(data)) if num_workers is None else num_workers
    loader = torch.utils.data.DataLoader(data, batch_size=1, num_workers=workers, collate_fn=_collate)
    samples: list[tuple] = []
    for batch in loader:
        for image, mask, index in batch:
            samples.append((image.clone(), mask.clone(), index))  # out of the workers' shared memory
        if len(samples) == 1:
            estimate = len(data) * (image.numel() * image.element_size() + mask.numel() * mask.element_size())
            if estimate > budget_mb * 2**20:
                log.info(
                    "not caching the split in memory: about %.0f MiB, over the %.0f MiB budget",
                    estimate / 2**20,
                    budget_mb,
                )
                return None
    return PreparedSplit(samples, dataset, preprocessing, time.perf_counter() - start)


def default_num_workers(samples: int) -> int:
    """DataLoader workers for evaluation: none on machines with at most two cores, else up to four (one core left
    to the model). On 2 cores a worker competes with the model's threads: CamVid val took 14.7 s with one worker
    and 13.6 s without for SegNet-Basic, 2.24 s and 1.87 s for a MobileNetV3 DeepLabV3."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores - 1, samples)


def _collate(batch):
    return batch  # images may differ in size; the loop stacks what it can


def check_classes(model: Any, dataset: Any, *, name: str = "the dataset", model_name: str | None = None) -> list[str]:
    """Raise when the model's and the dataset's class counts differ; warn when their names differ. Returns names."""
    n_model = int(model.num_classes)
    classes = list(getattr(dataset, "classes", []) or [])
    n_data = int(getattr(dataset, "num_classes", len(classes)) or len(classes))
    model_name = model_name or (getattr(model, "config", {}) or {}).get("name", "the model")
    if n_data and n_model != n_data:
        raise SegzooError(
            f"{model_name} predicts {n_model} classes but {name} has {n_data}; evaluate on the dataset the model was "
            "trained for (remapping labels between datasets is not supported)"
        )
    names = list((getattr(model, "config", {}) or {}).get("class_names") or [])
    if names and classes and [n.lower() for n in names] != [c.lower() for c in classes]:
        diffs = [
            f"{k}: {a!r} vs {b!r}"
            for k, (a, b) in enumerate(zip(names, classes, strict=False))
            if a.lower() != b.lower()
        ]
        log.warning(
            "class names of %s and %s differ (%s%s); evaluating by class index",
            model_name,
            name,
            ", ".join(diffs[:3]),
            " ..." if len(diffs) > 3 else "",
        )
    return classes or names or [f"class {k}" for k in range(n_model)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate(
    engine: Any,
    dataset: Any,
    *,
    preprocessing: Any = None,
    settings: Any = None,
    batch_size: int = 1,
    limit: int | None = None,
    num_workers: int | None = None,
    prefetch_factor: int = 2,
    boundary: bool = False,
    boundary_tolerance: float = 2.0,
    progress: bool = True,
    description: str = "eval",
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Metrics of ``engine`` (an :class:`~segzoo.inference.Engine` or a model) on ``dataset`` (a segzoo dataset
    returning PIL ``(image, mask)`` pairs, or a :class:`PreparedSplit` of one). Returns ``{"metrics", "timing",
    "settings", "images"}``. ``class_names``: what :func:`check_classes` returned to a caller that already checked
    (its warning is then not printed twice).

    Under torch.distributed (torchrun) each rank evaluates images ``rank, rank + W, ...`` and the confusion matrices
    are summed, so every rank returns the whole split's metrics; every rank must call this
    (:mod:`segzoo.evaluation.sharding`)."""
    model = getattr(engine, "model", engine)
    settings = settings or InferenceSettings(batch_size=batch_size)
    preprocessing = preprocessing or Preprocessing.from_model(model)
    class_names = list(class_names) if class_names is not None else check_classes(model, dataset)
    ignore_index = getattr(dataset, "ignore_index", None)
    num_classes = int(model.num_classes)
    device = getattr(engine, "device", None) or next(model.parameters()).device
    align_corners = bool(getattr(engine, "align_corners", getattr(model, "align_corners", False)))
    divisor = int(getattr(engine, "input_divisor", getattr(model, "input_divisor", 1)) or 1)

    if isinstance(dataset, PreparedSplit):
        if dataset.preprocessing != preprocessing.as_dict():
            raise SegzooError(
                "the prepared split was preprocessed otherwise than this evaluation asks: prepare it "
                f"again ({dataset.preprocessing} vs {preprocessing.as_dict()})"
            )
        data = dataset if limit is None else torch.utils.data.Subset(dataset, range(min(len(dataset), limit)))
        num_workers = 0  # already in memory
    else:
        data = EvalDataset(dataset, preprocessing, limit)
    if len(data) == 0:
        raise SegzooError("the dataset split is empty")
    if sharding.D.world_size() > 1:  # under torchrun: this rank's images; the counts are summed below
        data = torch.utils.data.Subset(data, sharding.shard_indices(len(data)))
    if num_workers is None:
        num_workers = default_num_workers(len(data))
    loader_kwargs: dict[str, Any] = {}
    if num_workers > 0:
        loader_kwargs.update(prefetch_factor=prefetch_factor, persistent_workers=False)
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
        pin_memory=device.type == "cuda",
        **loader_kwargs,
    )
    cm = ConfusionMatrix(
        num_classes, ignore_index=ignore_index, class_names=class_names if len(class_names) == num_classes else None
    )
    bf = BoundaryF1(num_classes, tolerance_px=boundary_tolerance, ignore_index=ignore_index) if boundary else None

    model_s = data_s = post_s = 0.0
    images = pixels = 0
    start = time.perf_counter()
    bar = tqdm(total=len(data), desc=description, unit="img", disable=not progress, leave=False, dynamic_ncols=True)
    iterator = iter(loader)
    while True:
        t0 = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            break
        # group consecutive samples of the same input size into one forward pass
        groups: list[list[tuple]] = []
        for sample in batch:
            if groups and groups[-1][0][0].shape == sample[0].shape:
                groups[-1].append(sample)
            else:
                groups.append([sample])
        data_s += time.perf_counter() - t0
        for group in groups:
            t1 = time.perf_counter()
            x = torch.stack([s[0] for s in group]).to(device, non_blocking=True)  # first touch of shared memory
            t2 = time.perf_counter()
            data_s += t2 - t1
            scores = infer(engine, x, settings, divisor=divisor, align_corners=align_corners)
            _sync(device)
            t3 = time.perf_counter()
            model_s += t3 - t2
            for j, (_, mask, _) in enumerate(group):
                pred = class_map(scores[j : j + 1], tuple(mask.shape[-2:]), align_corners=align_corners).cpu()
                target = mask[None]
                cm.update(pred, target)
                if bf is not None:
                    bf.update(pred, target)
                pixels += mask.numel()
            post_s += time.perf_counter() - t3
        images += len(batch)
        bar.update(len(batch))
    bar.close()
    wall = time.perf_counter() - start
    cm.all_reduce()  # no-op in one process
    if bf is not None:
        bf.all_reduce()
    metrics = cm.compute()
    if bf is not None:
        metrics.update({k: v for k, v in bf.compute().items() if k not in ("num_classes", "class_names")})
    metrics.setdefault("class_names", class_names)
    timing = sharding.gather_timing(
        {
            "wall_s": wall,
            "model_s": model_s,
            "data_wait_s": data_s,
            "post_s": post_s,
            "model_time_share": model_s / wall if wall > 0 else math.nan,
            "data_time_share": data_s / wall if wall > 0 else math.nan,
            "images_per_s": images / wall if wall > 0 else math.nan,
        },
        images,
    )
    if sharding.D.world_size() > 1:  # the whole split's counts, not this rank's
        images, pixels = (int(v) for v in sharding.D.all_reduce_sum([images, pixels]))
    return {
        "metrics": metrics,
        "images": images,
        "pixels": pixels,
        "settings": {
            **settings.as_dict(),
            "batch_size": batch_size,
            "num_workers": num_workers,
            "prefetch_factor": prefetch_factor if num_workers > 0 else None,
            "preprocessing": preprocessing.as_dict(),
            "ignore_index": ignore_index,
            "boundary_tolerance_px": boundary_tolerance if boundary else None,
        },
        "timing": timing,
    }


def first_input_size(dataset: Any, preprocessing: Any) -> tuple[int, int]:
    """``(height, width)`` of the first sample after preprocessing (the evaluation input size)."""
    item = dataset[0][0]
    if isinstance(item, Image.Image):
        w, h = preprocessing.output_size(*item.size)
        return h, w
    return int(item.shape[-2]), int(item.shape[-1])


def per_class_rows(metrics: dict[str, Any], names: Sequence[str] | None = None) -> list[list[str]]:
    names = list(names or metrics.get("class_names") or [f"class {k}" for k in range(metrics["num_classes"])])

    def pct(v: float) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"

    rows = []
    for k, name in enumerate(names):
        row = [
            str(k),
            name,
            pct(metrics["iou"][k]),
            pct(metrics["dice"][k]),
            pct(metrics["precision"][k]),
            pct(metrics["recall"][k]),
            str(metrics["support"][k]),
        ]
        if "bf" in metrics:
            row.insert(6, pct(metrics["bf"][k]))
        rows.append(row)
    return rows
