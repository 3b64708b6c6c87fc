"""Streaming semantic-segmentation metrics: confusion-matrix scores and boundary F1; and :func:`compare_logits`,
whether another way of running a model (an engine, an ONNX file) reproduces its eager logits.

Only ``torch`` is imported, so ``import segzoo.metrics`` stays cheap and the module has no
runtime dependency on torchmetrics (the tests check agreement with it instead).

Conventions (see ``docs/metrics.md`` for the formulas):

* Confusion matrix rows are ground truth, columns are predictions.
* Pixels whose target is ``ignore_index`` or outside ``[0, num_classes)`` are skipped;
  a prediction outside that range is a bug upstream, so it raises ``ValueError``.
* A class absent from both target and prediction is NaN in every per-class list and is left
  out of the class means (mmsegmentation's ``nanmean``).  For a class that is present, a ratio
  with an empty denominator is 0 (e.g. precision of a class that is never predicted).
  An in-range ``ignore_index`` class is always NaN: it cannot have ground truth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from segzoo.nn.functional import class_map

__all__ = ["MIN_CLASS_AGREEMENT", "MIN_WITHIN", "BoundaryF1", "ConfusionMatrix", "compare_logits", "evaluate_masks"]


def _nan_list(t: Tensor) -> list[float]:
    return [float(v) for v in t.tolist()]


def _nanmean(t: Tensor) -> float:
    keep = ~torch.isnan(t)
    return float(t[keep].mean()) if bool(keep.any()) else math.nan


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den with 0 where den == 0 (the caller NaNs the absent classes afterwards)."""
    return torch.where(den > 0, num / den.clamp(min=1e-300), torch.zeros_like(num))


class _Streaming:
    """Shared plumbing: a few additive count tensors that can be merged, reduced and saved."""

    _state_names: tuple[str, ...] = ()

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None,
        device: torch.device | str | None,
        class_names: Sequence[str] | None,
    ) -> None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names but num_classes is {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.class_names = None if class_names is None else [str(n) for n in class_names]
        # device=None: adopt the device of the first update, so GPU evaluation never syncs
        # a small CPU tensor per batch.
        self._follow_input = device is None
        self._device = torch.device("cpu" if device is None else device)
        self.reset()

    # -- subclass hooks -------------------------------------------------------------
    def _empty_state(self) -> dict[str, Tensor]:
        raise NotImplementedError

    # -- common API ----------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything accumulated so far (start of a new evaluation)."""
        for name, value in self._empty_state().items():
            setattr(self, name, value.to(self._device))

    def _adopt_device(self, device: torch.device) -> None:
        if self._follow_input and device != self._device:
            self._device = device
            for name in self._state_names:
                setattr(self, name, getattr(self, name).to(device))
        self._follow_input = False

    def _check_compatible(self, other: _Streaming) -> None:
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError(
                "cannot merge accumulators with different settings: "
                f"num_classes/ignore_index {other.num_classes}/{other.ignore_index} "
                f"vs {self.num_classes}/{self.ignore_index}"
            )

    def merge(self, other: _Streaming) -> _Streaming:
        """Add another accumulator's counts (e.g. from a second data loader); returns self."""
        self._check_compatible(other)
        for name in self._state_names:
            mine = getattr(self, name)
            mine += getattr(other, name).to(mine.device)
        return self

    def all_reduce(self, group: Any = None) -> _Streaming:
        """Sum the counts over all processes; a no-op unless torch.distributed is initialised.

        Every rank must call this (it is a collective). Returns self.
        """
        if not (dist.is_available() and dist.is_initialized()):
            return self
        backend = str(dist.get_backend(group))
        for name in self._state_names:
            value = getattr(self, name)
            work = value
            if backend == "nccl" and value.device.type != "cuda":
                work = value.to(torch.device("cuda", torch.cuda.current_device()))
            elif backend == "gloo" and value.device.type != "cpu":
                work = value.cpu()
            dist.all_reduce(work, op=dist.ReduceOp.SUM, group=group)
            if work is not value:
                value.copy_(work)
        return self

    def state_dict(self) -> dict[str, Any]:
        """Settings and counts (CPU tensors), for checkpointing a long evaluation."""
        state: dict[str, Any] = {"num_classes": self.num_classes, "ignore_index": self.ignore_index}
        state.update({name: getattr(self, name).detach().cpu().clone() for name in self._state_names})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counts saved by :meth:`state_dict`; the settings must match."""
        if (state.get("num_classes"), state.get("ignore_index")) != (self.num_classes, self.ignore_index):
            raise ValueError(
                "state_dict was saved with num_classes/ignore_index "
                f"{state.get('num_classes')}/{state.get('ignore_index')}, "
                f"this accumulator has {self.num_classes}/{self.ignore_index}"
            )
        for name in self._state_names:
            current = getattr(self, name)
            value = torch.as_tensor(state[name])
            if value.shape != current.shape:
                raise ValueError(f"state '{name}' has shape {tuple(value.shape)}, expected {tuple(current.shape)}")
            setattr(self, name, value.to(device=current.device, dtype=current.dtype).clone())

    # -- input handling --------------------------------------------------------------
    def _labels(self, pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """(pred, target) as class indices of the same shape (argmax over dim 1 for logits)."""
        if not isinstance(pred, Tensor) or not isinstance(target, Tensor):
            raise TypeError("pred and target must be torch.Tensor")
        if target.dtype == torch.bool:
            target = target.to(torch.uint8)
        if pred.dtype == torch.bool:
            pred = pred.to(torch.uint8)
        if target.is_floating_point() or target.is_complex():
            raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
        if pred.ndim == target.ndim + 1:
            if pred.shape[1] != self.num_classes or pred.shape[:1] + pred.shape[2:] != target.shape:
                raise ValueError(
                    f"logits of shape {tuple(pred.shape)} do not match target {tuple(target.shape)} "
                    f"with {self.num_classes} classes; expected (N, {self.num_classes}, *target.shape[1:])"
                )
            return class_map(pred), target
        if pred.shape != target.shape:
            raise ValueError(
                f"pred shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}; "
                "pass class indices shaped like target or logits shaped (N, C, H, W)"
            )
        if pred.is_floating_point() or pred.is_complex():
            raise TypeError(
                f"pred has target's shape but dtype {pred.dtype}; pass integer class indices "
                "(e.g. logits.argmax(1)) or logits with a class dimension"
            )
        return pred, target

    def _check_pred_range(self, pred: Tensor, valid: Tensor | None) -> None:
        if pred.numel() == 0:
            return
        lo, hi = torch.aminmax(pred)
        if int(lo) >= 0 and int(hi) < self.num_classes:
            return
        # Something is out of range somewhere; only complain about pixels that are evaluated.
        bad = (pred < 0) | (pred >= self.num_classes)
        if valid is not None:
            bad &= valid
        if bool(bad.any()):
            values = torch.unique(pred[bad])[:5].tolist()
            raise ValueError(
                f"pred contains class indices outside [0, {self.num_classes}), e.g. {values}; "
                "check num_classes or the model's output head"
            )

    def _valid_mask(self, target: Tensor) -> Tensor | None:
        """Bool mask of evaluated pixels, or None when every pixel counts (the fast path)."""
        ign = self.ignore_index
        ign_in_range = ign is not None and 0 <= ign < self.num_classes
        if target.numel() and not ign_in_range:
            lo, hi = torch.aminmax(target)
            if int(lo) >= 0 and int(hi) < self.num_classes:
                return None
        valid = target < self.num_classes
        if target.dtype != torch.uint8:
            valid &= target >= 0
        if ign_in_range:
            valid &= target != ign
        return valid


class ConfusionMatrix(_Streaming):
    """Streaming C x C confusion matrix (rows: ground truth, cols: prediction).

    All region metrics (pixel accuracy, IoU, Dice, ...) are functions of this matrix, so it is
    accumulated with one ``bincount`` per batch and summed across batches and processes; the
    scores are only derived in :meth:`compute`.
    """

    _state_names = ("_mat",)
    _mat: Tensor  # set by _Streaming from _empty_state()

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = None,
        device: torch.device | str | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(num_classes, ignore_index, device, class_names)

    def _empty_state(self) -> dict[str, Tensor]:
        c = self.num_classes
        return {"_mat": torch.zeros(c, c, dtype=torch.int64)}

    @property
    def matrix(self) -> Tensor:
        """The accumulated int64 matrix; ``matrix[t, p]`` counts pixels of class t predicted as p."""
        return self._mat

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch: pred is class indices shaped like target, or logits/probs (N, C, H, W)."""
        pred, target = self._labels(pred, target)
        self._adopt_device(pred.device)
        c = self.num_classes
        valid = self._valid_mask(target)
        self._check_pred_range(pred, valid)
        # int32 indices make bincount ~2x faster on CPU; fall back to int64 for huge C.
        dtype = torch.int32 if c * c < 2**31 - 1 else torch.int64
        idx = torch.add(pred.reshape(-1).to(dtype), target.reshape(-1).to(dtype), alpha=c)
        if valid is None:
            counts = torch.bincount(idx, minlength=c * c)
        else:
            # Send skipped pixels to an extra bin instead of compacting with a boolean index.
            idx.masked_fill_(~valid.reshape(-1), c * c)
            counts = torch.bincount(idx, minlength=c * c + 1)[: c * c]
        self._mat += counts.reshape(c, c).to(self._mat.device)

    def compute(self) -> dict[str, Any]:
        """Scores as a plain dict of floats / lists of floats (NaN marks an absent class)."""
        m = self._mat.detach().to("cpu", torch.float64)
        tp = m.diagonal()
        gt = m.sum(1)  # pixels of each class in the target (support)
        pr = m.sum(0)  # pixels predicted as each class
        total = m.sum()
        absent = (gt + pr) == 0
        if self.ignore_index is not None and 0 <= self.ignore_index < self.num_classes:
            absent[self.ignore_index] = True

        def per_class(num: Tensor, den: Tensor) -> Tensor:
            out = _ratio(num, den)
            out[absent] = math.nan
            return out

        iou = per_class(tp, gt + pr - tp)
        dice = per_class(2 * tp, gt + pr)
        precision = per_class(tp, pr)
        recall = per_class(tp, gt)
        freq = gt / total if total > 0 else torch.zeros_like(gt)
        has_gt = (gt > 0) & ~absent
        result: dict[str, Any] = {
            "num_classes": self.num_classes,
            "pixel_accuracy": float(tp.sum() / total) if total > 0 else math.nan,
            "mean_accuracy": _nanmean(recall),
            "mIoU": _nanmean(iou),
            "fwIoU": float((freq[has_gt] * iou[has_gt]).sum()) if bool(has_gt.any()) else math.nan,
            "mDice": _nanmean(dice),
            "mean_precision": _nanmean(precision),
            "mean_recall": _nanmean(recall),
            "iou": _nan_list(iou),
            "dice": _nan_list(dice),
            "precision": _nan_list(precision),
            "recall": _nan_list(recall),
            "support": [int(v) for v in self._mat.sum(1).tolist()],
        }
        if self.class_names is not None:
            result["class_names"] = list(self.class_names)
        return result


def _label_edges(labels: Tensor) -> Tensor:
    """True where a pixel has a 4-neighbour with a different label (image border is not an edge)."""
    edges = torch.zeros(labels.shape, dtype=torch.bool, device=labels.device)
    vert = labels[..., 1:, :] != labels[..., :-1, :]
    edges[..., 1:, :] |= vert
    edges[..., :-1, :] |= vert
    horiz = labels[..., :, 1:] != labels[..., :, :-1]
    edges[..., :, 1:] |= horiz
    edges[..., :, :-1] |= horiz
    return edges


def _disk_offsets(radius: float) -> Tensor:
    """(K, 2) integer offsets (dy, dx) with dy^2 + dx^2 <= radius^2: the Euclidean tolerance disk."""
    r = int(math.floor(radius + 1e-9))
    d = torch.arange(-r, r + 1)
    dy, dx = torch.meshgrid(d, d, indexing="ij")
    inside = (dy * dy + dx * dx).double() <= radius * radius + 1e-9
    return torch.stack([dy[inside], dx[inside]], dim=1)


def _match_within(
    points: tuple[Tensor, ...],
    labels: Tensor,
    other: Tensor,
    offsets: Tensor,
    max_gather: int = 2**22,
) -> Tensor:
    """For boundary pixels (n, y, x) of class ``labels``: is there a pixel of ``other`` with the
    same label at one of ``offsets``?

    ``other`` is a label map holding a class only on its boundary pixels and -1 elsewhere. Since a
    boundary pixel belongs to exactly one class (its own label), comparing labels at every disk
    offset is the same test as dilating each class's boundary mask by the disk and looking it up,
    without a per-class pass over the image; only the (sparse) boundary pixels are gathered.
    """
    n_idx, y, x = points
    pad = int(offsets.abs().max()) if offsets.numel() else 0
    padded = F.pad(other, (pad, pad, pad, pad), value=-1)
    hp, wp = padded.shape[-2:]
    flat = padded.reshape(-1)
    base = n_idx * (hp * wp) + (y + pad) * wp + (x + pad)
    delta = (offsets[:, 0] * wp + offsets[:, 1]).to(base.device)
    matched = torch.zeros(base.numel(), dtype=torch.bool, device=base.device)
    step = max(1, max_gather // max(1, delta.numel()))
    for s in range(0, base.numel(), step):
        near = flat[base[s : s + step, None] + delta[None, :]]  # (M, K) labels around each pixel
        matched[s : s + step] = (near == labels[s : s + step, None]).any(dim=1)
    return matched


def _bf_score(n_pred: Tensor, m_pred: Tensor, n_gt: Tensor, m_gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Boundary precision, recall and F1 from counts; NaN where neither side has a boundary."""
    p = _ratio(m_pred, n_pred)
    r = _ratio(m_gt, n_gt)
    f = _ratio(2 * p * r, p + r)
    none = (n_pred + n_gt) == 0
    return p.masked_fill(none, math.nan), r.masked_fill(none, math.nan), f.masked_fill(none, math.nan)


class BoundaryF1(_Streaming):
    """Boundary F1 (BF) score of Csurka et al., BMVC 2013 (MATLAB ``bfscore``), streaming.

    Region metrics barely move when a mask is a few pixels off along its contour; BF scores the
    contours themselves. For class c, a boundary pixel is a pixel of class c with a 4-neighbour of
    another label (the image border is not a boundary). A predicted boundary pixel of c is matched
    if a target boundary pixel of c lies within Euclidean distance ``<= tolerance``, and vice versa.
    Matched / total counts are summed over images: ``bf`` is, per class, the F1 of the pooled
    boundary precision and recall, ``mBF`` their mean, ``mBF_image`` Csurka's per-image average.

    ``tolerance_px`` is in pixels (default 2); ``tolerance_rel`` is a fraction of each image's
    diagonal instead (MATLAB's default is 0.0075). Predicted boundary pixels on ignored target
    pixels are not counted, but may still match a target boundary (e.g. a VOC void band).
    """

    _state_names = ("_counts", "_image")
    _counts: Tensor  # set by _Streaming from _empty_state()
    _image: Tensor

    def __init__(
        self,
        num_classes: int,
        tolerance_px: float | None = None,
        tolerance_rel: float | None = None,
        ignore_index: int | None = None,
        device: torch.device | str | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if tolerance_px is not None and tolerance_rel is not None:
            raise ValueError("give tolerance_px or tolerance_rel, not both")
        if tolerance_px is None and tolerance_rel is None:
            tolerance_px = 2.0
        if (tolerance_px is not None and tolerance_px < 0) or (tolerance_rel is not None and tolerance_rel < 0):
            raise ValueError("tolerance must be >= 0")
        self.tolerance_px = tolerance_px
        self.tolerance_rel = tolerance_rel
        super().__init__(num_classes, ignore_index, device, class_names)

    def _empty_state(self) -> dict[str, Tensor]:
        # rows: predicted boundary px, matched predicted px, target boundary px, matched target px
        return {
            "_counts": torch.zeros(4, self.num_classes, dtype=torch.int64),
            # sum over images of the image's mean BF over its classes, and the number of such images
            "_image": torch.zeros(2, dtype=torch.float64),
        }

    def tolerance_for(self, height: int, width: int) -> float:
        """The distance tolerance in pixels used for an image of this size."""
        if self.tolerance_rel is not None:
            return self.tolerance_rel * math.hypot(height, width)
        assert self.tolerance_px is not None
        return float(self.tolerance_px)

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch of (N, H, W) targets with index or (N, C, H, W) logit predictions."""
        pred, target = self._labels(pred, target)
        if target.ndim == 2:
            pred, target = pred.unsqueeze(0), target.unsqueeze(0)
        if target.ndim != 3:
            raise ValueError(f"BoundaryF1 expects (N, H, W) targets, got shape {tuple(target.shape)}")
        self._adopt_device(pred.device)
        n, h, w = target.shape
        if n == 0:
            return
        c = self.num_classes
        valid = self._valid_mask(target)
        self._check_pred_range(pred, valid)
        if valid is None:
            valid = torch.ones(target.shape, dtype=torch.bool, device=target.device)
        pred = pred.to(torch.int64)
        target = target.to(torch.int64)
        pred_edges = _label_edges(pred)
        target_edges = _label_edges(target) & valid  # an ignored pixel is no class's boundary
        counted_pred = pred_edges & valid
        if self.ignore_index is not None and 0 <= self.ignore_index < c:
            counted_pred &= pred != self.ignore_index
        offsets = _disk_offsets(self.tolerance_for(h, w))
        pred_map = torch.where(pred_edges, pred, -1)
        target_map = torch.where(target_edges, target, -1)

        stats = []
        for edges, labels, other in ((counted_pred, pred, target_map), (target_edges, target, pred_map)):
            points = edges.nonzero(as_tuple=True)
            lab = labels[points]
            hit = _match_within(points, lab, other, offsets)
            key = points[0] * c + lab
            stats.append(torch.bincount(key, minlength=n * c).view(n, c))
            stats.append(torch.bincount(key[hit], minlength=n * c).view(n, c))
        per_image = torch.stack(stats)  # (4, N, C)

        self._counts += per_image.sum(1).to(self._counts.device)
        f_img = _bf_score(*per_image.double())[2]  # (N, C); NaN where a class has no boundary
        has = ~torch.isnan(f_img)
        image_mean = torch.where(has, f_img, torch.zeros_like(f_img)).sum(1) / has.sum(1).clamp(min=1)
        counted = has.any(1)
        self._image += torch.stack([image_mean[counted].sum(), counted.sum().double()]).to(self._image.device)

    def compute(self) -> dict[str, Any]:
        """Per-class pooled BF / precision / recall, their means, and the per-image mean BF."""
        counts = self._counts.detach().to("cpu", torch.float64)
        p, r, f = _bf_score(counts[0], counts[1], counts[2], counts[3])
        img_sum, img_n = self._image.detach().cpu().tolist()
        result: dict[str, Any] = {
            "num_classes": self.num_classes,
            "tolerance_px": self.tolerance_px,
            "tolerance_rel": self.tolerance_rel,
            "mBF": _nanmean(f),
            "mBF_image": img_sum / img_n if img_n > 0 else math.nan,
            "bf": _nan_list(f),
            "bf_precision": _nan_list(p),
            "bf_recall": _nan_list(r),
        }
        if self.class_names is not None:
            result["class_names"] = list(self.class_names)
        return result


def evaluate_masks(
    preds: Tensor | Iterable[Tensor],
    targets: Tensor | Iterable[Tensor],
    num_classes: int,
    ignore_index: int | None = None,
) -> dict[str, Any]:
    """One-shot region metrics for a batch tensor or an iterable of per-batch tensors."""
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    if isinstance(preds, Tensor) and isinstance(targets, Tensor):
        cm.update(preds, targets)
    else:
        for pred, target in zip(preds, targets, strict=True):
            cm.update(pred, target)
    return cm.compute()


# -- agreement between runtimes ------------------------------------------------------------------------------------
# For most architectures the logits are a continuous function of the input, so the maximum |difference| is the test:
# fp32 kernels that reorder sums stay within ``tolerance``. Architectures whose model sets ``discontinuous = True``
# (SegNet: max-unpooling writes each value at its window's argmax) are different: where two activations of a pooling
# window are within rounding of each other, another kernel may pick the other one, and the value moves; the
# convolutions after it spread that over a patch of the output. There the test is that nearly all logits agree within
# ``tolerance`` (``MIN_WITHIN``) and nearly all pixels keep their class (``MIN_CLASS_AGREEMENT``): a wrong graph
# garbles far more than a few near ties do. Used by the inference engines' own checks and by ``segzoo.export``.

#: discontinuous models: the share of logits that must be within the tolerance
MIN_WITHIN = 0.95
#: discontinuous models: the share of pixels that must keep their class
MIN_CLASS_AGREEMENT = 0.99


def compare_logits(got: Tensor, ref: Tensor, *, tolerance: float, model: Any = None) -> dict[str, Any]:
    """``{"max_abs_diff", "within_tolerance", "class_agreement", "ok"}`` for logits ``got`` against ``ref``
    (both ``(N, K, H, W)``); ``ok`` applies the test for ``model``'s kind: max |difference| <= ``tolerance``, or for
    a model with ``discontinuous = True`` nearly all logits and pixels (then ``criterion`` says which shares)."""
    got, ref = got.float(), ref.float()
    diff = (got - ref).abs()
    report: dict[str, Any] = {
        "max_abs_diff": float(diff.max()) if diff.numel() else 0.0,
        "within_tolerance": float((diff <= tolerance).float().mean()) if diff.numel() else 1.0,
        "class_agreement": float((class_map(got) == class_map(ref)).float().mean()) if diff.numel() else 1.0,
    }
    if getattr(model, "discontinuous", False):
        report["ok"] = report["within_tolerance"] >= MIN_WITHIN and report["class_agreement"] >= MIN_CLASS_AGREEMENT
        report["criterion"] = (
            f">= {MIN_WITHIN:.0%} of logits within {tolerance:g} and >= "
            f"{MIN_CLASS_AGREEMENT:.0%} of pixels with the same class"
        )
    else:
        report["ok"] = report["max_abs_diff"] <= tolerance
    return report
