"""Helpers for converter parity tests: the same random weights in an upstream model and in segzoo give the same logits.

    upstream = randomize_(torchvision.models.segmentation.fcn_resnet50(weights=None, num_classes=21))
    model = create_from_entry(entry)
    model.load_state_dict(convert(upstream.state_dict(), entry))
    assert max_logit_diff(lambda x: upstream(x)["out"], model, (1, 3, 97, 131)) <= 1e-4

Random weights alone are not enough: default initialisations leave BatchNorm statistics at 0/1 and layer scales
near zero, which would hide a wrong mapping. :func:`randomize_` makes every parameter and normalisation statistic
matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

import segzoo
from segzoo._api import create_from_config

__all__ = ["checked_entry", "create_from_entry", "max_logit_diff", "randomize_"]


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every floating parameter and BatchNorm statistic a random, activation-preserving value; eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:  # conv / linear weights: variance-preserving
                p.copy_(torch.randn(p.shape, generator=generator) * math.sqrt(2.0 / p[0].numel()))
            elif name.endswith("weight") or "scale" in name or "gamma" in name:  # norm scales, layer scales
                p.copy_(torch.rand(p.shape, generator=generator) * 0.5 + 0.5)
            else:  # biases
                p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) * 1.5 + 0.5)
    return model.eval()


def checked_entry(
    name: str, *, architecture: str, encoder: str, options: dict, weights_format: str, num_classes: int = 21
) -> dict:
    """The fields of catalog entry ``name`` that build its model, as the parity test states them. When the installed
    catalog has ``name``, assert that it says the same, so that the test proves the entry users load."""
    entry = {
        "name": name,
        "architecture": architecture,
        "encoder": encoder,
        "num_classes": num_classes,
        "options": options,
    }
    if name in segzoo.list_models():
        info = segzoo.info(name)
        assert {k: info.get(k) for k in entry} == entry, f"catalog entry {name!r} disagrees with the parity test"
        assert info["weights"]["format"] == weights_format, f"catalog entry {name!r}: weights format"
    return entry


def create_from_entry(entry: dict) -> nn.Module:
    """The segzoo model a catalog-style entry describes (architecture, encoder, num_classes, in_channels, options)."""
    return create_from_config(entry).eval()


def max_logit_diff(
    upstream: Callable[[torch.Tensor], torch.Tensor], model: nn.Module, shape: tuple[int, ...], seed: int = 1
) -> float:
    """Max |upstream(x) - model(x)| on one random input of ``shape``; the logits must have the same shape."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        a, b = upstream(x), model(x)
    if a.shape != b.shape:
        raise AssertionError(f"logit shapes differ: upstream {tuple(a.shape)}, segzoo {tuple(b.shape)}")
    return (a - b).abs().max().item()
