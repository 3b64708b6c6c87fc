"""PSPNet (Zhao et al. 2017) for segzoo.

Importing the package is cheap; torch-based modules load on first attribute access.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "PSPDecoder": "segzoo_pspnet.model",
    "build_pspnet": "segzoo_pspnet.model",
    "SMP_OPTIONS": "segzoo_pspnet.smp",
    "convert_smp_pspnet": "segzoo_pspnet.smp",
    "entry_from_smp_config": "segzoo_pspnet.smp",
    "load_smp_pspnet": "segzoo_pspnet.smp",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segzoo_pspnet' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
