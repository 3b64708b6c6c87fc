"""Region (overlap) losses: soft Dice, soft Jaccard (IoU) and (focal) Tversky.

For class ``c``, with probabilities ``p`` (softmax for multiclass, sigmoid otherwise) and 0/1 targets ``t`` summed over
the batch and all pixels that are not ignored::

    TP = sum p t        FP = sum p (1 - t)        FN = sum (1 - p) t
    T_c = (TP + smooth) / max(TP + alpha FP + beta FN + smooth, eps)
    L_c = 1 - T_c        (or -log(max(T_c, eps)) with log_loss=True), then L_c ** gamma

Dice is ``alpha = beta = 1/2``, Jaccard ``alpha = beta = 1``. The loss is the (``class_weights``-weighted) mean of
``L_c`` over the classes in ``classes`` (all channels by default) that occur in the target; when none occurs, 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from segzoo.errors import ConfigurationError
from segzoo_losses._common import (
    Prepared,
    SegmentationLoss,
    as_vector,
    check_classes,
    check_number,
    classes_mask,
    safe_divide,
    vector_for,
)


class TverskyLoss(SegmentationLoss):
    """Tversky loss (Salehi et al. 2017, https://arxiv.org/abs/1706.05721); with ``gamma != 1`` the focal Tversky loss
    (Abraham & Khan 2019, https://arxiv.org/abs/1810.07842) ``mean_c (1 - T_c)^gamma``.

    ``alpha`` weights false positives, ``beta`` false negatives. ``alpha = beta = 0.5`` is the Dice loss.
    """

    name = "tversky"
    _fixed: tuple[float, float] | None = None

    def __init__(
        self,
        mode: str = "multiclass",
        ignore_index: int | None = 255,
        alpha: float = 0.5,
        beta: float = 0.5,
        gamma: float = 1.0,
        classes=None,
        log_loss: bool = False,
        smooth: float = 0.0,
        eps: float = 1e-7,
        class_weights=None,
    ) -> None:
        super().__init__(mode, ignore_index)
        self.alpha = check_number(self.name, "alpha", alpha, low=0.0)
        self.beta = check_number(self.name, "beta", beta, low=0.0)
        self.gamma = check_number(self.name, "gamma", gamma, low=0.0, low_open=True)
        self.classes = check_classes(self.name, classes)
        if self.classes is not None and mode == "binary":
            raise ConfigurationError(f"{self.name}: classes does not apply to mode='binary' (one channel)")
        if class_weights is not None and mode == "binary":
            raise ConfigurationError(f"{self.name}: class_weights does not apply to mode='binary' (one channel)")
        self.log_loss = bool(log_loss)
        self.smooth = check_number(self.name, "smooth", smooth, low=0.0)
        self.eps = check_number(self.name, "eps", eps, low=0.0, low_open=True)
        self.register_buffer("class_weights", as_vector(self.name, "class_weights", class_weights), persistent=False)

    def per_class(self, x: Prepared) -> tuple[Tensor, Tensor]:
        """``(L_c, present_c)``: the loss of every channel and whether the class occurs in the (valid) target."""
        p, t, _ = x.probabilities_and_onehot()
        dims = (0, 2)
        tp = (p * t).sum(dims)
        fp = p.sum(dims) - tp
        support = t.sum(dims)
        fn = support - tp
        score = (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth).clamp_min(self.eps)
        if self.log_loss:
            loss = -torch.log(score.clamp_min(self.eps))
        else:
            loss = 1.0 - score
        if self.gamma != 1.0:
            # rounding can leave 1 - T slightly below 0; a fractional power of a negative number is NaN
            loss = loss.clamp_min(1e-12 if self.gamma < 1 else 0.0).pow(self.gamma)
        return loss, support > 0

    def compute(self, x: Prepared) -> Tensor:
        loss, present = self.per_class(x)
        keep = present & classes_mask(self.name, self.classes, x.num_classes, loss.device)
        weights = vector_for(self.name, "class_weights", self.class_weights, x.num_classes, loss)
        if weights is None:
            weights = torch.ones_like(loss)
        weights = torch.where(keep, weights, 0.0)
        return safe_divide(torch.where(keep, loss * weights, 0.0).sum(), weights.sum())

    def extra_repr(self) -> str:
        extra = [super().extra_repr()]
        if self._fixed is None:
            extra.append(f"alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}")
        for key in ("classes", "smooth"):
            if getattr(self, key):
                extra.append(f"{key}={getattr(self, key)}")
        if self.log_loss:
            extra.append("log_loss=True")
        if self.class_weights is not None:
            extra.append(f"class_weights={self.class_weights.tolist()}")
        return ", ".join(extra)


class _FixedTversky(TverskyLoss):
    """A Tversky loss whose ``alpha``, ``beta`` (``_fixed``) and ``gamma = 1`` are not options."""

    _fixed: tuple[float, float]

    def __init__(
        self,
        mode: str = "multiclass",
        ignore_index: int | None = 255,
        classes=None,
        log_loss: bool = False,
        smooth: float = 0.0,
        eps: float = 1e-7,
        class_weights=None,
    ) -> None:
        alpha, beta = self._fixed
        super().__init__(
            mode,
            ignore_index,
            alpha=alpha,
            beta=beta,
            gamma=1.0,
            classes=classes,
            log_loss=log_loss,
            smooth=smooth,
            eps=eps,
            class_weights=class_weights,
        )


class DiceLoss(_FixedTversky):
    """Soft Dice loss (Milletari et al. 2016, https://arxiv.org/abs/1606.04797):
    ``1 - (2 TP + 2 smooth) / (sum p + sum t + 2 smooth)`` per class, the Tversky loss with ``alpha = beta = 1/2``."""

    name = "dice"
    _fixed = (0.5, 0.5)


class JaccardLoss(_FixedTversky):
    """Soft Jaccard (IoU) loss: ``1 - (TP + smooth) / (sum p + sum t - TP + smooth)`` per class, the Tversky loss with
    ``alpha = beta = 1``."""

    name = "jaccard"
    _fixed = (1.0, 1.0)
