"""HRNet (Sun et al. 2019) for segzoo: the ``hrnetv2_*`` encoders and the ``hrnet`` architecture.

Importing the package is cheap; torch-based modules load on first attribute access.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "HRNetEncoder": "segzoo_hrnet.encoder",
    "VARIANTS": "segzoo_hrnet.encoder",
    "HRNetV2Decoder": "segzoo_hrnet.model",
    "build_hrnet": "segzoo_hrnet.model",
    "resize_concat": "segzoo_hrnet.model",
    "spec_from_mmseg": "segzoo_hrnet.mmseg",
    "convert_mmseg": "segzoo_hrnet.mmseg",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segzoo_hrnet' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
