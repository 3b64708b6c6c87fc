"""FPN (panoptic FPN semantic branch, Kirillov et al. 2019) for segzoo.

Importing the package is cheap; torch-based modules load on first attribute access.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "FPNDecoder": "segzoo_fpn.model",
    "build_fpn": "segzoo_fpn.model",
    "convert_smp_fpn": "segzoo_fpn.smp",
    "entry_from_smp_config": "segzoo_fpn.smp",
    "load_smp_fpn": "segzoo_fpn.smp",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segzoo_fpn' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
