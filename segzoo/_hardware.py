"""What the machine computes natively: the precision choices of inference, int8 and training depend on it."""

from __future__ import annotations

import torch

__all__ = ["bf16_supported", "cpu_has_vnni"]


def bf16_supported(device: torch.device) -> bool:
    """Whether bfloat16 runs natively (AVX-512 BF16 / AMX on CPU, Ampere or newer on GPU); elsewhere autocast
    emulates it, tens of times slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_vnni() -> bool:
    """Whether the CPU sums 8-bit products in 32 bits (VNNI); without it onnxruntime's int8 kernels saturate."""
    try:
        return bool(torch.cpu._is_vnni_supported())
    except AttributeError:  # a torch without the query: assume none, the setting that is right everywhere
        return False
