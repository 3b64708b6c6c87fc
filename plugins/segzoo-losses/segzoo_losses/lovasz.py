"""Lovasz losses (Berman, Rannen Triki & Blaschko 2018, https://arxiv.org/abs/1705.08790).

The Lovasz extension of the Jaccard loss ``Delta_J`` evaluated at a vector of pixel errors ``m``: sort ``m`` in
decreasing order (``m_(1) >= m_(2) >= ...``, ground truth ``g`` in the same order) and take

    loss(m) = sum_i m_(i) (J_i - J_(i-1)),    J_i = 1 - |G - g_(1..i)| / |G + (1 - g)_(1..i)|,  J_0 = 0,

where ``G = sum g`` (Algorithm 1 of the paper). Lovasz-softmax (multiclass) uses ``m = |1[y = c] - p_c|`` per class
``c`` (softmax probabilities); the Lovasz hinge (binary) uses ``m = max(1 - z s, 0)`` with ``s = 2 t - 1`` on the raw
logits ``z``.

Sorting is batched over classes (and images for ``per_image=True``); ignored pixels get the sort key ``-inf`` and
contribute nothing, which equals dropping them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from segzoo.errors import ConfigurationError
from segzoo_losses._common import Prepared, SegmentationLoss, check_classes, classes_mask, safe_divide


def lovasz_grad(gt_sorted: Tensor) -> Tensor:
    """``J_i - J_(i-1)`` along the last dimension, for ground truth sorted by decreasing error (Alg. 1)."""
    gts = gt_sorted.sum(-1, keepdim=True)
    intersection = gts - gt_sorted.cumsum(-1)
    union = gts + (1.0 - gt_sorted).cumsum(-1)  # >= 1 everywhere
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], dim=-1)


def lovasz_extension(errors: Tensor, gt: Tensor, valid: Tensor) -> Tensor:
    """The Lovasz extension of the Jaccard loss for each row (last dimension = elements) of ``errors``.

    ``errors`` (``>= 0`` where valid), ``gt`` (0/1, same shape) and ``valid`` (bool, same shape); elements that are not
    valid are left out.
    """
    keys = torch.where(valid, errors.detach(), float("-inf"))
    perm = keys.argsort(dim=-1, descending=True)
    errors_sorted = errors.gather(-1, perm)
    valid_sorted = valid.gather(-1, perm)
    gt_sorted = torch.where(valid_sorted, gt.gather(-1, perm), 0.0)
    return (torch.where(valid_sorted, errors_sorted, 0.0) * lovasz_grad(gt_sorted)).sum(-1)


class LovaszLoss(SegmentationLoss):
    """Lovasz-softmax (multiclass) and Lovasz hinge (binary; per channel for multilabel).

    ``per_image=False`` (default) computes each class's loss over the whole batch; ``True`` per image, then averages
    the images that have at least one pixel that is not ignored.
    ``classes``: ``"present"`` averages the classes that occur in the target (the paper's default, and the default for
    multiclass), ``"all"`` every class (the default for binary and multilabel: a channel without positives still
    penalises false positives), or a list of class indices.
    """

    name = "lovasz"

    def __init__(
        self,
        mode: str = "multiclass",
        ignore_index: int | None = 255,
        per_image: bool = False,
        classes=None,
    ) -> None:
        super().__init__(mode, ignore_index)
        self.per_image = bool(per_image)
        classes = check_classes(self.name, classes, allow=("present", "all"))
        if mode == "binary" and classes not in (None, "all"):
            raise ConfigurationError(f"{self.name}: classes does not apply to mode='binary' (one channel)")
        if classes is None:
            classes = "present" if mode == "multiclass" else "all"
        self.classes = classes

    def compute(self, x: Prepared) -> Tensor:
        n, c = x.logits.shape[:2]
        if x.mode == "multiclass":
            probs = x.logits.softmax(dim=1)
            gt = F.one_hot(x.target, c).permute(0, 2, 1).to(probs.dtype)  # (N, C, P)
            valid = x.valid.unsqueeze(1).expand(n, c, -1)
            errors = (gt - probs).abs()
        else:
            gt = x.target
            valid = x.valid
            errors = F.relu(1.0 - x.logits * (2.0 * gt - 1.0))
        gt = gt * valid
        if self.per_image:
            losses = lovasz_extension(errors, gt, valid)  # (N, C)
            present = gt.sum(-1) > 0  # (N, C)
            has_pixels = valid.any(-1)  # (N, C): for multilabel, per element
        else:
            flat = lambda t: t.transpose(0, 1).reshape(c, -1)  # noqa: E731 - (N, C, P) -> (C, N * P)
            losses = lovasz_extension(flat(errors), flat(gt), flat(valid)).unsqueeze(0)  # (1, C)
            present = flat(gt).sum(-1).unsqueeze(0) > 0
            has_pixels = flat(valid).any(-1).unsqueeze(0)
        if self.classes == "present":
            keep = present
        elif self.classes == "all":
            keep = has_pixels
        else:
            keep = has_pixels & classes_mask(self.name, self.classes, c, losses.device)
        count = keep.sum(-1).to(losses.dtype)  # classes averaged, per image
        per_row = safe_divide(torch.where(keep, losses, 0.0).sum(-1), count)
        rows = count > 0  # images with something to average
        return safe_divide(torch.where(rows, per_row, 0.0).sum(), rows.sum().to(losses.dtype))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, per_image={self.per_image}, classes={self.classes!r}"
