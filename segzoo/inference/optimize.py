"""Inference-only graph rewrites that keep the model's outputs: BatchNorm folding and fp32 islands for bf16.

:func:`fold_batchnorm` finds every ``Conv2d -> BatchNorm2d`` pair by running the model once with forward hooks (a
BatchNorm whose input is the very tensor a convolution just returned), folds the BatchNorm's affine transform into
the convolution's weight and bias, and replaces the BatchNorm by ``nn.Identity``. No tracing is needed, so it works on
any architecture, including plugins'. The caller checks the outputs afterwards (see :class:`segzoo.inference.Engine`),
so a convolution whose raw output is also used elsewhere (which folding would change) is caught and the fold undone.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger("segzoo")

__all__ = ["fold_batchnorm", "fuse_conv_relu", "keep_fp32"]

# exact types only: subclasses such as timm's BatchNormAct2d also apply an activation
_FOLDABLE_NORMS = (nn.BatchNorm2d,)


def _find_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, nn.Conv2d, str, nn.BatchNorm2d]]:
    names = {id(m): n for n, m in model.named_modules()}
    produced: dict[int, tuple[torch.Tensor, nn.Module]] = {}
    calls: dict[int, int] = {}
    pairs: dict[int, tuple[nn.Module, nn.Module]] = {}
    bad: set[int] = set()

    def conv_hook(module, inputs, output):
        calls[id(module)] = calls.get(id(module), 0) + 1
        if isinstance(output, torch.Tensor):
            # keep the tensor alive so its id stays unique; its version tells whether it was changed in place since
            produced[id(output)] = (output, module, output._version)

    def norm_hook(module, inputs, output):
        calls[id(module)] = calls.get(id(module), 0) + 1
        x = inputs[0] if inputs else None
        hit = produced.get(id(x)) if isinstance(x, torch.Tensor) else None
        if hit is None or hit[0] is not x or x._version != hit[2]:
            bad.add(id(module))
            return
        conv = hit[1]
        previous = pairs.get(id(module))
        if previous is not None and previous[0] is not conv:
            bad.add(id(module))
        pairs[id(module)] = (conv, module)

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif type(m) in _FOLDABLE_NORMS:
            handles.append(m.register_forward_hook(norm_hook))
    try:
        with torch.no_grad():  # not inference_mode: inference tensors have no version counter
            model(example)
    finally:
        for h in handles:
            h.remove()
    used_convs: dict[int, int] = {}
    for conv, _ in pairs.values():
        used_convs[id(conv)] = used_convs.get(id(conv), 0) + 1
    result = []
    for key, (conv, norm) in pairs.items():
        if key in bad or used_convs[id(conv)] != 1 or calls.get(id(conv)) != calls.get(id(norm)):
            continue
        if not norm.track_running_stats or norm.running_mean is None or conv.groups < 1:
            continue
        if id(conv) not in names or id(norm) not in names:
            continue
        result.append((names[id(conv)], conv, names[id(norm)], norm))
    return result


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


@torch.no_grad()
def fold_batchnorm(model: nn.Module, example: torch.Tensor) -> int:
    """Fold every eval-mode ``BatchNorm2d`` that directly follows a ``Conv2d`` into it, in place; returns how many.

    ``example`` is a small input used once to discover the pairs. The model must be in eval mode.
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode")
    pairs = _find_pairs(model, example)
    for _conv_name, conv, norm_name, norm in pairs:
        scale = (
            norm.weight / torch.sqrt(norm.running_var + norm.eps)
            if norm.affine
            else 1.0 / torch.sqrt(norm.running_var + norm.eps)
        )
        shift = (norm.bias if norm.affine else 0.0) - norm.running_mean * scale
        weight = conv.weight.detach().double() * scale.double().reshape(-1, *([1] * (conv.weight.dim() - 1)))
        bias = shift.double() if conv.bias is None else conv.bias.detach().double() * scale.double() + shift.double()
        conv.weight = nn.Parameter(weight.to(conv.weight.dtype), requires_grad=False)
        conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
        _set_module(model, norm_name, nn.Identity())
    return len(pairs)


def keep_fp32(model: nn.Module, *, min_dilation: int = 6, device_type: str = "cpu") -> int:
    """Run convolutions with dilation >= ``min_dilation`` in fp32 under bf16 autocast; returns how many.

    On CPUs with AMX, oneDNN's bf16 kernels for heavily dilated 3x3 convolutions (DeepLab's ASPP at rates 12-36)
    were 2-4x *slower* than fp32 on this machine (most taps fall into the padding), so they stay in fp32.
    """
    count = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and max(m.dilation) >= min_dilation and max(m.kernel_size) > 1:
            original = m.forward

            def forward(x, _original=original):
                with torch.autocast(device_type, enabled=False):
                    return _original(x.float())

            m.forward = forward
            count += 1
    return count


def fuse_conv_relu(model: nn.Module, example: torch.Tensor) -> int:
    """Run every ``Conv2d`` whose output goes straight into an ``nn.ReLU`` as one oneDNN convolution with a fused
    ReLU (``torch.ops.mkldnn._convolution_pointwise``), and make that ReLU an ``nn.Identity``; returns how many.

    CPU and fp32 only (call after :func:`fold_batchnorm`, so ``conv -> BN -> ReLU`` chains qualify). Pairs are found
    like BatchNorm pairs: the ReLU's input must be the very tensor the convolution returned, unchanged since (an
    in-place residual add in between, as in ResNet blocks, disqualifies the pair).
    """
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")):
        return 0
    names = {id(m): n for n, m in model.named_modules()}
    produced: dict[int, tuple[torch.Tensor, nn.Module, int]] = {}
    calls: dict[int, int] = {}
    pairs: dict[int, nn.Module] = {}
    bad: set[int] = set()

    def conv_hook(module, inputs, output):
        calls[id(module)] = calls.get(id(module), 0) + 1
        if isinstance(output, torch.Tensor):
            produced[id(output)] = (output, module, output._version)

    def relu_pre_hook(module, inputs):
        calls[id(module)] = calls.get(id(module), 0) + 1
        x = inputs[0] if inputs else None
        hit = produced.get(id(x)) if isinstance(x, torch.Tensor) else None
        if hit is None or hit[0] is not x or x._version != hit[2]:
            bad.add(id(module))
            return
        if id(module) in pairs and pairs[id(module)] is not hit[1]:
            bad.add(id(module))
        pairs[id(module)] = hit[1]

    handles = []
    for m in model.modules():
        if type(m) is nn.Conv2d:
            handles.append(m.register_forward_hook(conv_hook))
        elif type(m) is nn.ReLU:
            handles.append(m.register_forward_pre_hook(relu_pre_hook))
    try:
        with torch.no_grad():  # not inference_mode: inference tensors have no version counter
            model(example)
    finally:
        for h in handles:
            h.remove()
    per_conv: dict[int, int] = {}
    for conv in pairs.values():
        per_conv[id(conv)] = per_conv.get(id(conv), 0) + 1
    count = 0
    for relu_id, conv in pairs.items():
        relu_name = next((n for n, m in model.named_modules() if id(m) == relu_id), None)
        if relu_id in bad or relu_name is None or per_conv[id(conv)] != 1 or calls.get(id(conv)) != calls[relu_id]:
            continue
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str) or id(conv) not in names:
            continue
        conv.forward = _fused_forward(conv)
        _set_module(model, relu_name, nn.Identity())
        count += 1
    return count


def _fused_forward(conv: nn.Conv2d):
    op = torch.ops.mkldnn._convolution_pointwise
    unfused = conv.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32 or x.device.type != "cpu" or conv.weight.dtype != torch.float32:
            return torch.relu(unfused(x))
        return op(
            x,
            conv.weight,
            conv.bias,
            list(conv.padding),
            list(conv.stride),
            list(conv.dilation),
            conv.groups,
            "relu",
            [],
            "",
        )

    return forward
