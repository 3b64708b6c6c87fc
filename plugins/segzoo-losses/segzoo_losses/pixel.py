"""Pixel-wise losses: cross-entropy and focal loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from segzoo.errors import ConfigurationError
from segzoo_losses._common import (
    Prepared,
    SegmentationLoss,
    autocast_off,
    as_vector,
    check_inputs,
    check_number,
    safe_divide,
    vector_for,
)

REDUCTIONS = ("mean", "sum")


def _check_reduction(loss: str, reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ConfigurationError(f"{loss}: reduction must be 'mean' or 'sum' (the loss is a scalar), got {reduction!r}")
    return reduction


class CrossEntropyLoss(SegmentationLoss):
    """Cross-entropy over the pixels that are not ignored.

    * ``multiclass``: ``F.cross_entropy`` with class ``weight`` (C values) and ``label_smoothing``; ``"mean"`` divides
      by the summed weight of the counted pixels' target classes, exactly as ``F.cross_entropy`` does.
    * ``binary`` / ``multilabel``: ``F.binary_cross_entropy_with_logits`` on every channel with ``pos_weight`` (a
      number or C values: the weight of the positive term) and, for multilabel, per-channel ``weight`` (the mean is
      weighted likewise). ``label_smoothing`` ``e`` maps a 0/1 target ``t`` to ``t (1 - e) + e / 2``, the two-class
      case of ``F.cross_entropy``'s smoothing.

    An all-ignored batch gives 0 (``F.cross_entropy`` would give NaN).
    """

    name = "cross_entropy"

    def __init__(
        self,
        mode: str = "multiclass",
        ignore_index: int | None = 255,
        weight=None,
        label_smoothing: float = 0.0,
        pos_weight=None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(mode, ignore_index)
        self.label_smoothing = check_number(self.name, "label_smoothing", label_smoothing, low=0.0, high=1.0)
        self.reduction = _check_reduction(self.name, reduction)
        if weight is not None and mode == "binary":
            raise ConfigurationError(
                f"{self.name}: weight is per class, which mode='binary' does not have; use "
                "pos_weight to weight the positive class"
            )
        if pos_weight is not None and mode == "multiclass":
            raise ConfigurationError(
                f"{self.name}: pos_weight applies to mode='binary'/'multilabel'; for "
                "mode='multiclass' use weight (one value per class)"
            )
        self.register_buffer("weight", as_vector(self.name, "weight", weight), persistent=False)
        if pos_weight is not None and not isinstance(pos_weight, (list, tuple, Tensor)):
            pos_weight = [check_number(self.name, "pos_weight", pos_weight, low=0.0)]
        self.register_buffer("pos_weight", as_vector(self.name, "pos_weight", pos_weight), persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if self.mode != "multiclass":
            return super().forward(logits, target)
        # multiclass is F.cross_entropy itself, on the unflattened (possibly channels-last) logits: no copy of them
        with autocast_off(logits.device.type if isinstance(logits, Tensor) else "cpu"):
            logits, target, valid = check_inputs(self.name, self.mode, logits, target, self.ignore_index)
            weight = vector_for(self.name, "weight", self.weight, logits.shape[1], logits)
            # an all-ignored batch: "mean" would divide 0 by 0; "sum" gives the 0 the contract promises
            reduction = self.reduction if bool(valid.any()) else "sum"
            return F.cross_entropy(
                logits,
                target,
                weight=weight,
                ignore_index=-100 if self.ignore_index is None else self.ignore_index,
                reduction=reduction,
                label_smoothing=self.label_smoothing,
            )

    def compute(self, x: Prepared) -> Tensor:  # binary and multilabel
        c = x.num_classes
        weight = vector_for(self.name, "weight", self.weight, c, x.logits)
        pos_weight = self.pos_weight
        if pos_weight is not None:
            if pos_weight.numel() == 1:
                pos_weight = pos_weight.expand(c)
            pos_weight = vector_for(self.name, "pos_weight", pos_weight, c, x.logits)[:, None]
        target = x.target
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        losses = F.binary_cross_entropy_with_logits(x.logits, target, pos_weight=pos_weight, reduction="none")
        counts = x.valid.to(x.logits.dtype)
        if weight is not None:
            counts = counts * weight[:, None]
        losses = torch.where(x.valid, losses * counts, 0.0)
        if self.reduction == "sum":
            return losses.sum()
        return safe_divide(losses.sum(), counts.sum())

    def extra_repr(self) -> str:
        extra = [super().extra_repr()]
        if self.weight is not None:
            extra.append(f"weight={self.weight.tolist()}")
        if self.pos_weight is not None:
            extra.append(f"pos_weight={self.pos_weight.tolist()}")
        if self.label_smoothing:
            extra.append(f"label_smoothing={self.label_smoothing}")
        if self.reduction != "mean":
            extra.append(f"reduction={self.reduction!r}")
        return ", ".join(extra)


class FocalLoss(SegmentationLoss):
    """Focal loss (Lin et al. 2017), ``FL = -alpha_t (1 - p_t)^gamma log(p_t)`` per pixel (per element for
    binary/multilabel), averaged over the pixels that are not ignored.

    * ``multiclass``: softmax focal loss; ``p_t`` is the softmax probability of the target class; ``alpha`` is None or
      one factor per class (``alpha_t = alpha[target]``; the mean stays over pixels, as in the paper).
    * ``binary`` / ``multilabel``: sigmoid focal loss on each channel; ``alpha`` is None or a number in [0, 1]:
      ``alpha_t = alpha`` for positives and ``1 - alpha`` for negatives.
    * ``normalized=True``: the sum divided by the summed focal factors ``sum (1 - p_t)^gamma`` (Zhu et al. 2019,
      https://arxiv.org/abs/1909.07829) instead of by the number of pixels.
    * ``reduced_threshold=th``: reduced focal loss (Sergievskiy & Ponamarev 2019, https://arxiv.org/abs/1903.01347):
      the factor is 1 where ``p_t < th`` and ``((1 - p_t) / th)^gamma`` elsewhere.

    ``gamma=0`` and ``alpha=None`` give the cross-entropy.
    """

    name = "focal"

    def __init__(
        self,
        mode: str = "multiclass",
        ignore_index: int | None = 255,
        alpha=None,
        gamma: float = 2.0,
        normalized: bool = False,
        reduced_threshold: float | None = None,
        reduction: str = "mean",
        eps: float = 1e-6,
    ) -> None:
        super().__init__(mode, ignore_index)
        self.gamma = check_number(self.name, "gamma", gamma, low=0.0)
        self.normalized = bool(normalized)
        self.reduced_threshold = check_number(
            self.name, "reduced_threshold", reduced_threshold, low=0.0, high=1.0, low_open=True, optional=True
        )
        self.reduction = _check_reduction(self.name, reduction)
        self.eps = check_number(self.name, "eps", eps, low=0.0, low_open=True)
        if alpha is None:
            self.alpha = None
            self.register_buffer("class_alpha", None, persistent=False)
        elif mode == "multiclass":
            if not isinstance(alpha, (list, tuple, Tensor)):
                raise ConfigurationError(
                    f"{self.name}: with mode='multiclass' alpha is one factor per class (a list "
                    f"of C numbers), got {alpha!r}"
                )
            self.alpha = None
            self.register_buffer("class_alpha", as_vector(self.name, "alpha", alpha), persistent=False)
        else:
            self.alpha = check_number(self.name, "alpha", alpha, low=0.0, high=1.0)
            self.register_buffer("class_alpha", None, persistent=False)

    def compute(self, x: Prepared) -> Tensor:
        if x.mode == "multiclass":
            logpt = x.logits.log_softmax(dim=1).gather(1, x.target.unsqueeze(1)).squeeze(1)  # (N, P)
            ce = -logpt
        else:
            ce = F.binary_cross_entropy_with_logits(x.logits, x.target, reduction="none")  # (N, C, P)
            logpt = -ce
        # p_t of ignored elements is set to 0 so that no (0 * inf) reaches their gradient
        pt = torch.where(x.valid, logpt.exp(), 0.0)
        # (1 - p_t)^gamma has an infinite slope at p_t = 1 for gamma < 1: keep the base away from 0 there
        one_minus_pt = (1.0 - pt).clamp_min(1e-12 if self.gamma < 1 else 0.0)
        if self.gamma == 0:
            factor = torch.ones_like(pt)
        elif self.reduced_threshold is None:
            factor = one_minus_pt.pow(self.gamma)
        else:
            factor = (one_minus_pt / self.reduced_threshold).pow(self.gamma)
            factor = torch.where(pt < self.reduced_threshold, torch.ones_like(factor), factor)
        losses = factor * ce
        if self.class_alpha is not None:
            losses = losses * vector_for(self.name, "alpha", self.class_alpha, x.num_classes, x.logits)[x.target]
        elif self.alpha is not None:
            losses = losses * (self.alpha * x.target + (1.0 - self.alpha) * (1.0 - x.target))
        losses = torch.where(x.valid, losses, 0.0)
        if self.normalized:
            return losses.sum() / torch.where(x.valid, factor, 0.0).sum().clamp_min(self.eps)
        if self.reduction == "sum":
            return losses.sum()
        return safe_divide(losses.sum(), x.valid.sum().to(losses.dtype))

    def extra_repr(self) -> str:
        extra = [super().extra_repr(), f"gamma={self.gamma}"]
        if self.alpha is not None:
            extra.append(f"alpha={self.alpha}")
        if self.class_alpha is not None:
            extra.append(f"alpha={self.class_alpha.tolist()}")
        if self.normalized:
            extra.append("normalized=True")
        if self.reduced_threshold is not None:
            extra.append(f"reduced_threshold={self.reduced_threshold}")
        return ", ".join(extra)
