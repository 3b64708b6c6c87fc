"""The checks of a loss, in every mode it declares."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

import segzoo
from segzoo.testing._checks.base import Check, registries

__all__ = ["LOSS_MODES", "loss_checks"]

LOSS_MODES = ("binary", "multiclass", "multilabel")


def loss_checks(
    name: str,
    *,
    options: dict[str, Any] | None = None,
    modes: Iterable[str] | None = None,
    num_classes: int = 4,
    seed: int = 0,
) -> list[Check]:
    """The checks of loss ``name``: its registration, then one per mode it declares (``modes=``, default
    ``("multiclass",)``).

    Per mode: ``create_loss(name, mode=mode, **options)`` is an ``nn.Module``; ``loss(logits, target)`` is a finite
    float scalar with a finite, non-zero gradient; confident correct logits score lower than confident wrong ones;
    and (multiclass, binary) pixels equal to the loss's ``ignore_index`` (default 255) change neither the value nor
    get any gradient. Binary mode takes targets ``(N, H, W)`` and ``(N, 1, H, W)`` alike.
    """
    entry = registries().losses.get(name)
    declared = tuple(entry.metadata.get("modes") or ("multiclass",))

    def metadata() -> None:
        wrong = [m for m in declared if m not in LOSS_MODES]
        assert not wrong, f"modes={declared!r}: unknown {wrong}; use {list(LOSS_MODES)}"

    def runner(mode: str) -> Callable[[], str | None]:
        def run() -> str | None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return _check_loss_mode(name, mode, dict(options or {}), num_classes)

        return run

    return [
        Check("loss", name, "metadata", metadata),
        *(Check("loss", name, mode, runner(mode)) for mode in modes or declared),
    ]


def _loss_inputs(mode: str, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    n, h, w = 2, 12, 16
    if mode == "binary":
        return torch.randn(n, 1, h, w) * 2, torch.randint(0, 2, (n, h, w))
    if mode == "multilabel":
        return torch.randn(n, num_classes, h, w) * 2, torch.randint(0, 2, (n, num_classes, h, w)).float()
    return torch.randn(n, num_classes, h, w) * 2, torch.randint(0, num_classes, (n, h, w))


def _perfect_logits(mode: str, target: torch.Tensor, num_classes: int, correct: bool) -> torch.Tensor:
    if mode == "multiclass":
        labels = target if correct else (target + 1) % num_classes
        return F.one_hot(labels, num_classes).permute(0, 3, 1, 2).float() * 20 - 10
    positive = target.float() if correct else 1 - target.float()
    return (positive * 20 - 10).reshape(target.shape[0], -1, *target.shape[-2:])


def _check_loss_mode(name: str, mode: str, options: dict, num_classes: int) -> str | None:
    loss = segzoo.create_loss(name, mode=mode, **options)
    assert isinstance(loss, torch.nn.Module), (
        f"mode={mode!r}: create_loss returned {type(loss).__name__}, not an nn.Module"
    )
    logits, target = _loss_inputs(mode, num_classes)
    logits.requires_grad_(True)
    value = loss(logits, target)
    assert isinstance(value, torch.Tensor) and value.dim() == 0, (
        f"mode={mode!r}: returned {type(value).__name__} of shape {tuple(getattr(value, 'shape', ()))}, "
        "expected a scalar tensor"
    )
    assert value.is_floating_point() and torch.isfinite(value), f"mode={mode!r}: value {value} is not finite"
    assert value.requires_grad, f"mode={mode!r}: the loss is not differentiable (no grad_fn)"
    value.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all(), f"mode={mode!r}: non-finite gradient"
    assert logits.grad.abs().sum() > 0, f"mode={mode!r}: the gradient is zero everywhere"
    with torch.no_grad():
        good = loss(_perfect_logits(mode, target, num_classes, True), target)
        bad = loss(_perfect_logits(mode, target, num_classes, False), target)
    assert good < bad, f"mode={mode!r}: correct logits score {float(good):.4g}, wrong ones {float(bad):.4g}"
    if mode == "binary":
        other = loss(logits.detach(), target.unsqueeze(1).float())
        torch.testing.assert_close(other, value.detach(), msg=lambda m: f"binary (N,1,H,W) float target: {m}")
    if mode in ("multiclass", "binary"):
        ignore = getattr(loss, "ignore_index", 255)
        if ignore is None:
            return "ignore_index is None for these options: not checked"
        _check_ignore(loss, mode, logits.detach(), target, ignore)
    return None


def _check_ignore(loss, mode: str, logits: torch.Tensor, target: torch.Tensor, ignore: int) -> None:
    ignored = torch.rand(target.shape) < 0.3
    target = target.masked_fill(ignored, ignore)
    changed = torch.where(ignored.unsqueeze(1), torch.randn_like(logits) * 5, logits)
    a = logits.clone().requires_grad_(True)
    value = loss(a, target)
    value.backward()
    assert torch.isfinite(value), f"mode={mode!r}: non-finite value with ignored pixels"
    leaked = a.grad.abs().amax(1)[ignored].max()
    assert leaked == 0, f"mode={mode!r}: pixels with target {ignore} (ignore_index) get gradient {float(leaked):.3g}"
    with torch.no_grad():
        torch.testing.assert_close(
            loss(changed, target),
            value.detach(),
            msg=lambda m: f"mode={mode!r}: the logits at ignored pixels change the loss: {m}",
        )
