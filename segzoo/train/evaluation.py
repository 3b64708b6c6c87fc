"""Validation: sharded over processes without padding, confusion matrices summed with ``all_reduce``."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from segzoo.metrics import ConfusionMatrix
from segzoo.nn.functional import class_map
from segzoo.train import distributed as D
from segzoo.train.data import EvalSampler, make_loader

__all__ = ["autocast", "evaluate", "predict_logits"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str):
    """``torch.autocast`` for ``precision`` ('fp32' disables it)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def _divisor(model: nn.Module) -> int:
    return int(getattr(model, "input_divisor", 1) or 1)


def predict_logits(model: nn.Module, images: torch.Tensor, *, resize: int | None = None) -> torch.Tensor:
    """Logits at the size of ``images``: optionally resized so the shorter side is ``resize``, padded on the right
    and bottom to the model's input divisor, predicted, cropped and resized back (bilinear)."""
    n, c, h, w = images.shape
    x = images
    if resize:
        s = resize / min(h, w)
        size = (max(1, round(h * s)), max(1, round(w * s)))
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    sh, sw = x.shape[-2:]
    d = _divisor(model)
    ph, pw = (math.ceil(sh / d) * d - sh, math.ceil(sw / d) * d - sw)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    logits = model(x)[..., :sh, :sw]
    if (sh, sw) != (h, w):
        logits = F.interpolate(logits.float(), size=(h, w), mode="bilinear", align_corners=False)
    return logits


@torch.no_grad()
def evaluate(
    model: nn.Module,
    samples: Any,
    *,
    num_classes: int,
    ignore_index: int | None = 255,
    class_names: list[str] | None = None,
    batch_size: int = 1,
    num_workers: int = 0,
    device: torch.device | str | None = None,
    precision: str = "fp32",
    resize: int | None = None,
    progress: bool = False,
) -> ConfusionMatrix:
    """The confusion matrix of ``model`` on ``samples`` (a dataset returning normalised ``(image, mask)`` tensors,
    e.g. :class:`~segzoo.train.data.SeededSamples` with an eval transform).

    Under torch.distributed, each process evaluates samples ``rank, rank + W, ...`` (no padding) and the matrices
    are summed over processes, so every process returns the same matrix, which counts each sample exactly once.
    Every process must call this. ``model`` must be the plain model, not its DDP wrapper.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    sampler = EvalSampler(len(samples), rank=D.rank(), world_size=D.world_size())
    loader = make_loader(
        samples,
        sampler,
        batch_size=batch_size,
        num_workers=num_workers,
        seed=0,
        drop_last=False,
        pin_memory=device.type == "cuda",
    )
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index, device=device, class_names=class_names)
    was_training = model.training
    model.eval()
    bar = None
    if progress:
        bar = tqdm(total=len(sampler), desc="eval", leave=False, unit="img", dynamic_ncols=True)
    try:
        for images, masks in loader:
            images = images.to(device, non_blocking=True)
            masks = masks.to(device, non_blocking=True)
            with autocast(device, precision):
                logits = predict_logits(model, images, resize=resize)
            cm.update(class_map(logits), masks)
            if bar is not None:
                bar.update(images.shape[0])
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    cm.all_reduce()
    return cm
