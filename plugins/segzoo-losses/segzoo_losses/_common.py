"""What every loss shares: option checks, input validation and the flattening of logits and targets.

Inputs follow segzoo's loss contract: ``logits`` are raw scores ``(N, C, *spatial)`` (usually ``(N, C, H, W)``) and
``target`` is

* ``mode="multiclass"``: integer class indices ``(N, *spatial)``; pixels equal to ``ignore_index`` are excluded;
* ``mode="binary"``: ``C == 1``, target ``(N, *spatial)`` or ``(N, 1, *spatial)`` with values 0/1 (or ``ignore_index``);
* ``mode="multilabel"``: target ``(N, C, *spatial)`` with values 0/1 (or ``ignore_index``, excluding that element).

Losses are computed in float32 (float64 inputs stay float64) with autocast disabled, so a model running under
``torch.autocast`` (bf16/fp16 logits) gets the same loss as in full precision, up to the logits' own rounding.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segzoo.errors import ConfigurationError, SegzooError

MODES = ("binary", "multiclass", "multilabel")


class LossInputError(SegzooError, ValueError):
    """``logits`` and ``target`` do not fit together or do not fit the loss's mode."""


# -- option checks ----------------------------------------------------------------------------------------------------


def check_mode(loss: str, mode: str, supported: Sequence[str] = MODES) -> str:
    if mode not in supported:
        raise ConfigurationError(f"{loss}: mode must be one of {', '.join(map(repr, supported))}, got {mode!r}")
    return mode


def check_ignore_index(loss: str, ignore_index) -> int | None:
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise ConfigurationError(f"{loss}: ignore_index must be an int or None, got {ignore_index!r}")
    return int(ignore_index)


def check_number(
    loss: str,
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    optional: bool = False,
):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigurationError(f"{loss}: {name} must be a number, got {value!r}")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ConfigurationError(f"{loss}: {name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ConfigurationError(f"{loss}: {name} must be <= {high}, got {value}")
    return value


def as_vector(loss: str, name: str, value, *, nonnegative: bool = True) -> Tensor | None:
    """A per-class sequence (list, tuple, 1-D tensor or array) as a float tensor, or None."""
    if value is None:
        return None
    try:
        vec = torch.as_tensor(value, dtype=torch.float64).detach().clone()
    except (TypeError, ValueError, RuntimeError) as err:
        raise ConfigurationError(f"{loss}: {name} must be a sequence of numbers, got {value!r}") from err
    if vec.dim() != 1 or vec.numel() == 0:
        raise ConfigurationError(
            f"{loss}: {name} must be a non-empty 1-D sequence (one value per class), got shape {tuple(vec.shape)}"
        )
    if not torch.isfinite(vec).all() or (nonnegative and (vec < 0).any()):
        raise ConfigurationError(f"{loss}: {name} must be finite and non-negative, got {vec.tolist()}")
    return vec  # float64; cast to the logits' dtype at use


def check_classes(loss: str, classes, *, allow: Sequence[str] = ()) -> str | list[int] | None:
    if classes is None or (isinstance(classes, str) and classes in allow):
        return classes
    if isinstance(classes, str) or not isinstance(classes, (Sequence, Tensor)):
        extra = f" or one of {', '.join(map(repr, allow))}" if allow else ""
        raise ConfigurationError(f"{loss}: classes must be a list of class indices{extra}, got {classes!r}")
    out = [int(c) for c in (classes.tolist() if isinstance(classes, Tensor) else classes)]
    if not out or any(c < 0 for c in out) or len(set(out)) != len(out):
        raise ConfigurationError(f"{loss}: classes must be distinct non-negative class indices, got {classes!r}")
    return out


def classes_mask(loss: str, classes: list[int] | None, num_classes: int, device) -> Tensor:
    """Boolean ``(C,)`` mask of the classes a loss averages over."""
    if classes is None:
        return torch.ones(num_classes, dtype=torch.bool, device=device)
    if max(classes) >= num_classes:
        raise LossInputError(f"{loss}: classes={classes} names a class >= the number of channels ({num_classes})")
    mask = torch.zeros(num_classes, dtype=torch.bool, device=device)
    mask[classes] = True
    return mask


def vector_for(loss: str, name: str, vec: Tensor | None, num_classes: int, ref: Tensor) -> Tensor | None:
    """A per-class option on ``ref``'s device and dtype, checked against the number of channels."""
    if vec is None:
        return None
    if vec.numel() != num_classes:
        raise LossInputError(f"{loss}: {name} has {vec.numel()} values but the logits have {num_classes} channels")
    return vec.to(device=ref.device, dtype=ref.dtype)


def safe_divide(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` where ``den > 0``, else ``num`` (which is 0 in every use: nothing to average -> loss 0)."""
    return num / torch.where(den > 0, den, torch.ones_like(den))


# -- inputs ------------------------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """Flattened inputs. ``P`` is the number of pixels per image.

    multiclass: ``logits (N, C, P)``, ``target`` long ``(N, P)`` (ignored pixels set to 0), ``valid`` bool ``(N, P)``.
    binary / multilabel: ``logits (N, C, P)`` (C == 1 for binary), ``target`` float ``(N, C, P)`` in {0, 1}
    (ignored elements set to 0), ``valid`` bool ``(N, C, P)``.
    """

    mode: str
    logits: Tensor
    target: Tensor
    valid: Tensor

    @property
    def num_classes(self) -> int:
        return self.logits.shape[1]

    def probabilities_and_onehot(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(p, t, valid)``: probabilities and 0/1 targets ``(N, C, P)``, both zero where not valid, and the float
        validity mask (``(N, 1, P)`` for multiclass, ``(N, C, P)`` otherwise)."""
        if self.mode == "multiclass":
            valid = self.valid.unsqueeze(1).to(self.logits.dtype)
            p = self.logits.log_softmax(dim=1).exp()
            t = F.one_hot(self.target, self.num_classes).permute(0, 2, 1).to(self.logits.dtype)
        else:
            valid = self.valid.to(self.logits.dtype)
            p = F.logsigmoid(self.logits).exp()
            t = self.target
        return p * valid, t * valid, valid


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def prepare(loss: str, mode: str, logits: Tensor, target: Tensor, ignore_index: int | None) -> Prepared:
    """Check ``logits`` and ``target`` against ``mode`` and flatten them; errors name the problem."""
    logits, target, valid = check_inputs(loss, mode, logits, target, ignore_index)
    n, c = logits.shape[:2]
    if mode == "multiclass":
        return Prepared(
            mode, logits.reshape(n, c, -1), torch.where(valid, target, 0).reshape(n, -1), valid.reshape(n, -1)
        )
    target = torch.where(valid, target, 0).to(logits.dtype)
    return Prepared(mode, logits.reshape(n, c, -1), target.reshape(n, c, -1), valid.reshape(n, c, -1))


def check_inputs(
    loss: str, mode: str, logits: Tensor, target: Tensor, ignore_index: int | None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, target, valid)`` checked against ``mode``, not flattened: logits in float32 (float64 kept),
    multiclass target as long with ``ignore_index`` kept, binary target with its channel dimension, and ``valid``
    the boolean mask of what is not ignored (the target's shape). Errors name the problem."""
    if not isinstance(logits, Tensor) or not isinstance(target, Tensor):
        raise LossInputError(
            f"{loss}: logits and target must be tensors, got {type(logits).__name__} and {type(target).__name__}"
        )
    if not logits.is_floating_point():
        raise LossInputError(f"{loss}: logits must be a floating-point tensor (raw scores), got {logits.dtype}")
    if logits.dim() < 2:
        raise LossInputError(f"{loss}: logits must be (N, C, H, W) (or (N, C, *spatial)), got shape {_shape(logits)}")
    if target.device != logits.device:
        raise LossInputError(f"{loss}: target is on {target.device} but logits are on {logits.device}")
    if target.is_complex():
        raise LossInputError(f"{loss}: target must be real-valued, got {target.dtype}")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    n, c = logits.shape[:2]
    spatial = tuple(logits.shape[2:])

    if mode == "multiclass":
        if c < 2:
            raise LossInputError(
                f"{loss}: mode='multiclass' needs at least 2 channels, the logits have {c}; "
                "for one foreground class use mode='binary'"
            )
        if target.shape != (n, *spatial):
            hint = " (squeeze the channel dimension: target[:, 0])" if target.shape == (n, 1, *spatial) else ""
            hint = hint or (
                " (that looks like a one-hot or multilabel target: use target.argmax(1), or mode='multilabel')"
                if target.shape == logits.shape
                else ""
            )
            raise LossInputError(
                f"{loss}: mode='multiclass' expects target (N, H, W) = {_shape(logits[:, 0])} of "
                f"class indices for logits {_shape(logits)}, got {_shape(target)}{hint}"
            )
        if target.dtype == torch.bool or target.is_floating_point():
            raise LossInputError(
                f"{loss}: mode='multiclass' expects integer class indices (torch.long), got "
                f"target of dtype {target.dtype}; convert with target.long() if the values are "
                "class indices"
            )
        target = target.long()
        valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
        bad = valid & ((target < 0) | (target >= c))
        if bool(bad.any()):
            values = torch.unique(target[bad])[:5].tolist()
            raise LossInputError(
                f"{loss}: target contains class indices {values} outside [0, {c - 1}] for {c}-channel "
                f"logits (ignore_index={ignore_index})"
            )
        return logits, target, valid

    if mode == "binary":
        if c != 1:
            raise LossInputError(
                f"{loss}: mode='binary' expects logits with 1 channel, got {c} ({_shape(logits)}); "
                "use mode='multiclass' (class indices) or mode='multilabel' (one 0/1 mask per "
                "channel)"
            )
        if target.shape == (n, *spatial):
            target = target.unsqueeze(1)
        elif target.shape != logits.shape:
            raise LossInputError(
                f"{loss}: mode='binary' expects target {_shape(logits[:, 0])} or {_shape(logits)} "
                f"for logits {_shape(logits)}, got {_shape(target)}"
            )
    elif mode == "multilabel":
        if target.shape != logits.shape:
            raise LossInputError(
                f"{loss}: mode='multilabel' expects target of the logits' shape {_shape(logits)} "
                f"(one 0/1 mask per channel), got {_shape(target)}"
            )
    else:  # pragma: no cover - modes are checked at construction
        raise ConfigurationError(f"{loss}: unknown mode {mode!r}")

    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    bad = valid & (target != 0) & (target != 1)
    if bool(bad.any()):
        values = torch.unique(target[bad])[:5].tolist()
        raise LossInputError(
            f"{loss}: mode={mode!r} expects target values 0 or 1 (or ignore_index={ignore_index}), found {values}"
        )
    return logits, target, valid


def autocast_off(device_type: str):
    try:
        if torch.is_autocast_enabled(device_type):
            return torch.autocast(device_type=device_type, enabled=False)
    except (TypeError, RuntimeError):  # older torch signature or a device type without autocast
        pass
    return contextlib.nullcontext()


class SegmentationLoss(nn.Module):
    """Base class: checks ``mode`` and ``ignore_index``, validates and flattens inputs, then calls :meth:`compute`."""

    #: registered name, used in error messages
    name = "loss"
    supported_modes: tuple[str, ...] = MODES

    def __init__(self, mode: str = "multiclass", ignore_index: int | None = 255) -> None:
        super().__init__()
        self.mode = check_mode(self.name, mode, self.supported_modes)
        self.ignore_index = check_ignore_index(self.name, ignore_index)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        with autocast_off(logits.device.type if isinstance(logits, Tensor) else "cpu"):
            prepared = prepare(self.name, self.mode, logits, target, self.ignore_index)
            return self.compute(prepared)

    def compute(self, x: Prepared) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, ignore_index={self.ignore_index}"
