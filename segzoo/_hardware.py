"""What the machine computes natively: the precision choices of inference, int8 and training depend on it."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

__all__ = ["bf16_supported", "cpu_has_vnni", "cpu_model", "device_name"]


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


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC ...", "Intel(R) Xeon(R) ..."), or the machine type where it is not known."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """The processor's model name ("NVIDIA H200", "AMD EPYC ..."), recorded with a run: the time a run took means
    little without it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()
