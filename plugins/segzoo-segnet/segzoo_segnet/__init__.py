"""SegNet (Badrinarayanan, Kendall, Cipolla 2017) for segzoo.

Importing the package is cheap; torch-based modules load on first attribute access.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "SegNetVGGEncoder": "segzoo_segnet.encoder",
    "SegNetBasicEncoder": "segzoo_segnet.encoder",
    "VGG_CONFIGS": "segzoo_segnet.encoder",
    "timm_vgg_to_segnet": "segzoo_segnet.encoder",
    "SegNetDecoder": "segzoo_segnet.model",
    "SegNetModel": "segzoo_segnet.model",
    "build_segnet": "segzoo_segnet.model",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segzoo_segnet' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
