"""Whether another way of running a model (an engine, an ONNX file) reproduces its eager logits.

For most architectures the logits are a continuous function of the input, so the maximum |difference| is the test:
fp32 kernels that reorder sums stay within ``tolerance``. Architectures whose model sets ``discontinuous = True``
(SegNet: max-unpooling writes each value at its window's argmax) are different: where two activations of a pooling
window are within rounding of each other, another kernel may pick the other one, and the value moves; the
convolutions after it spread that over a patch of the output. There the test is that nearly all logits agree within
``tolerance`` (``MIN_WITHIN``) and nearly all pixels keep their class (``MIN_CLASS_AGREEMENT``): a wrong graph
garbles far more than a few near ties do.
"""

from __future__ import annotations

from typing import Any

import torch

from segzoo.nn.functional import class_map

__all__ = ["MIN_CLASS_AGREEMENT", "MIN_WITHIN", "compare_logits"]

MIN_WITHIN = 0.95
MIN_CLASS_AGREEMENT = 0.99


def compare_logits(got: torch.Tensor, ref: torch.Tensor, *, tolerance: float, model: Any = None) -> dict[str, Any]:
    """``{"max_abs_diff", "within_tolerance", "class_agreement", "ok"}`` for logits ``got`` against ``ref``
    (both ``(N, K, H, W)``); ``ok`` applies the test for ``model``'s kind (see the module docstring)."""
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
