"""U-Net architectures for segzoo: ``unet`` (any encoder, smp-compatible) and ``unet-original`` (Ronneberger 2015).

Importing the package is cheap; torch-based modules load on first attribute access.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "UnetDecoder": "segzoo_unet.decoder",
    "UNetClassicEncoder": "segzoo_unet.classic",
    "UNetOriginalDecoder": "segzoo_unet.classic",
    "build_unet": "segzoo_unet.model",
    "build_unet_original": "segzoo_unet.model",
    "convert_smp_unet": "segzoo_unet.smp",
    "entry_from_smp_config": "segzoo_unet.smp",
    "load_smp_unet": "segzoo_unet.smp",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segzoo_unet' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
