"""segzoo hook implementations: registers the datasets of this package.

Registration reads only :mod:`segzoo_datasets._meta` (no torch): each registered object is a :class:`LazyDataset`
that imports its dataset class when first called, so plugin discovery stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

import segzoo
from segzoo_datasets._meta import DATASETS

SEGZOO_PLUGIN_API = 1


class LazyDataset:
    """Stands in for a dataset class in the registry: ``LazyDataset(...)(root, split, **options)`` imports the class
    on first use and returns ``DatasetClass(root, split, **options)``. Other attributes (``classes``, ``splits``...)
    are the class's. :meth:`load` returns the class itself."""

    def __init__(self, module: str, qualname: str) -> None:
        self.module = module
        self.qualname = qualname
        self.__name__ = qualname
        self._cls: type | None = None

    def load(self) -> type:
        if self._cls is None:
            self._cls = getattr(importlib.import_module(self.module), self.qualname)
        return self._cls

    def __call__(self, root: Any, split: Any = "train", **options: Any):
        return self.load()(root, split, **options)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_cls":
            raise AttributeError(name)
        return getattr(self.load(), name)

    def __repr__(self) -> str:
        return f"<dataset class {self.module}.{self.qualname}>"


@segzoo.hookimpl
def register_datasets(register) -> None:
    for name, (module, qualname, metadata) in DATASETS.items():
        meta = {key: (list(value) if isinstance(value, list) else value) for key, value in metadata.items()}
        register(name, LazyDataset(module, qualname), **meta)
