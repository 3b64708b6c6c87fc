"""OCRNet (Yuan et al. 2020) for segzoo: the ``ocrnet`` architecture.

Importing the package is cheap; torch-based modules load on first attribute access.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "OCRNet": "segzoo_ocrnet.model",
    "OCRDecoder": "segzoo_ocrnet.model",
    "ObjectAttention": "segzoo_ocrnet.model",
    "ObjectRegionHead": "segzoo_ocrnet.model",
    "build_ocrnet": "segzoo_ocrnet.model",
    "spatial_gather": "segzoo_ocrnet.model",
    "spec_from_mmseg": "segzoo_ocrnet.mmseg",
    "convert_mmseg": "segzoo_ocrnet.mmseg",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segzoo_ocrnet' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
