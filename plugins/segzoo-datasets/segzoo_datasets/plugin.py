"""segzoo hook implementations: registers the datasets of this package.

Registration reads only :mod:`segzoo_datasets._meta` (no torch): each dataset class is registered as a lazy factory
(``"module:Class"``), imported on first use, so plugin discovery stays cheap.
"""

from __future__ import annotations

import segzoo
from segzoo_datasets._meta import DATASETS

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_datasets(register) -> None:
    for name, (module, qualname, metadata) in DATASETS.items():
        meta = {key: (list(value) if isinstance(value, list) else value) for key, value in metadata.items()}
        register(name, f"{module}:{qualname}", **meta)
