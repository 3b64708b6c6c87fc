"""segzoo: a plugin-based model zoo for semantic segmentation in PyTorch.

``import segzoo`` is cheap: torch, timm, huggingface_hub and the plugins are imported when first needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segzoo._lazy import lazy_attributes
from segzoo.hookspecs import hookimpl

__version__ = "0.1.0"

# public name -> module that defines it (imported on first attribute access)
_LAZY = {
    "create": "segzoo._api",
    "load": "segzoo._api",
    "list_models": "segzoo._api",
    "list_architectures": "segzoo._api",
    "info": "segzoo._api",
    "create_loss": "segzoo._api",
    "create_dataset": "segzoo._api",
    "list_losses": "segzoo._api",
    "list_datasets": "segzoo._api",
    "SegmentationModel": "segzoo.nn.model",
    "registry": "segzoo.registry",
    "convert": "segzoo.hub.convert",
    "push_to_hub": "segzoo.hub.serialization",
}

__all__ = ["__version__", "hookimpl", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from segzoo._api import create as create
    from segzoo._api import create_dataset as create_dataset
    from segzoo._api import create_loss as create_loss
    from segzoo._api import info as info
    from segzoo._api import list_architectures as list_architectures
    from segzoo._api import list_datasets as list_datasets
    from segzoo._api import list_losses as list_losses
    from segzoo._api import list_models as list_models
    from segzoo._api import load as load
    from segzoo import registry as registry
    from segzoo.hub.convert import convert as convert
    from segzoo.hub.serialization import push_to_hub as push_to_hub
    from segzoo.nn.model import SegmentationModel as SegmentationModel


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
