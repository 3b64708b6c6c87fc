"""Knowledge distillation: a trained teacher's per-pixel class probabilities as a second training target.

A small real-time network trained on a few hundred labelled frames sees only hard labels; a larger network's
softened predictions also say which classes a pixel could be confused with (Hinton et al. 2015, applied per pixel
as in Liu et al. 2019, "Structured Knowledge Distillation for Semantic Segmentation").
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import segzoo
from segzoo.data.preprocessing import Preprocessing
from segzoo.train.config import TrainConfigError

__all__ = ["distillation_loss", "load_teacher"]


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    target: torch.Tensor,
    *,
    temperature: float = 1.0,
    ignore_index: int = 255,
) -> torch.Tensor:
    """``T^2 * KL(teacher || student)`` of the class distributions softened by ``T``, averaged over the pixels whose
    label is not ``ignore_index`` (crop padding carries no image; ``T^2`` keeps the gradient's scale independent of
    ``T``). Teacher logits of another size are resized to the student's."""
    if teacher.shape[-2:] != student.shape[-2:]:
        teacher = F.interpolate(teacher.float(), size=student.shape[-2:], mode="bilinear", align_corners=False)
    log_student = F.log_softmax(student.float() / temperature, dim=1)
    log_teacher = F.log_softmax(teacher.float() / temperature, dim=1)
    kl = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=1)
    valid = target != ignore_index
    if not bool(valid.any()):
        return kl.sum() * 0.0
    return kl[valid].mean() * temperature**2


def load_teacher(spec: str, *, num_classes: int, student: Preprocessing, device: torch.device, **to: Any) -> nn.Module:
    """The frozen teacher ``segzoo.load(spec)``, refused unless it predicts the student's classes from images
    normalised the same way (the batch is normalised once, for the student)."""
    teacher = segzoo.load(spec)
    if teacher.num_classes != num_classes:
        raise TrainConfigError(
            f"distill_from {spec!r} predicts {teacher.num_classes} classes but the dataset has {num_classes}; "
            "the teacher must be trained on the same classes, in the same order"
        )
    mine = Preprocessing.from_model(teacher)
    same = all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip([*mine.mean, *mine.std], [*student.mean, *student.std]))
    if not same or mine.in_channels != student.in_channels:
        raise TrainConfigError(
            f"distill_from {spec!r} normalises images with mean {list(mine.mean)} and std {list(mine.std)}, the "
            f"student with {list(student.mean)} and {list(student.std)}: both must see the same input"
        )
    teacher.requires_grad_(False)
    return teacher.eval().to(device, **to)
