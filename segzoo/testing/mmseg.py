"""mmsegmentation as a CPU parity twin, without mmcv's compiled operators.

mmsegmentation 1.2.2 imports ``mmcv.ops`` at import time, which loads every compiled operator from ``mmcv._ext``.
``mmcv-lite`` (the only mmcv that installs on current PyTorch) has no ``mmcv._ext``; a stand-in module whose
functions raise when called lets mmseg build and run every model that does not actually call a compiled operator.
A model that does call one fails loudly, never silently.

Needs the ``mmseg`` extra of the test dependencies (mmsegmentation, mmcv-lite, mmengine, opencv, scipy).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import torch

__all__ = ["config_path", "build_twin", "load_config", "randomize_", "twin_logits"]


class _CompiledOpsStandIn(types.ModuleType):
    """``mmcv._ext``: every attribute is a function that raises, so a model needing a compiled op cannot pass."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # inspect and torch probe dunders; they must not look callable
            raise AttributeError(name)

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"mmcv compiled operator {name!r} is not available (mmcv-lite has no mmcv._ext)")

        return unavailable


def _install_stand_in() -> None:
    sys.modules.setdefault("mmcv._ext", _CompiledOpsStandIn("mmcv._ext"))


def config_path(name: str) -> Path:
    """The config shipped in the mmseg wheel: ``"pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024"`` or a path."""
    path = Path(name)
    if path.is_file():
        return path
    _install_stand_in()
    import mmseg

    root = Path(mmseg.__file__).parent / ".mim" / "configs"
    candidate = root / (name if name.endswith(".py") else f"{name}.py")
    if not candidate.is_file():
        raise FileNotFoundError(f"no mmseg config {name!r} under {root}")
    return candidate


def load_config(name: str):
    """The mmengine ``Config`` of an mmseg config (with its ``_base_`` files merged)."""
    _install_stand_in()
    from mmengine import Config

    return Config.fromfile(str(config_path(name)))


def build_twin(config: Any, **model_overrides: Any) -> torch.nn.Module:
    """mmseg's own model for a config name, path or ``Config``, on the CPU, randomly initialised, in eval mode.

    ``model_overrides`` are merged into ``cfg.model`` (e.g. ``decode_head=dict(num_classes=5)``).
    """
    _install_stand_in()
    from mmengine import Config
    from mmseg.apis import init_model

    cfg = config if isinstance(config, Config) else load_config(str(config))
    if model_overrides:
        cfg.merge_from_dict({f"model.{k}": v for k, v in model_overrides.items()})
    cfg.model.pop("pretrained", None)
    backbone = cfg.model.get("backbone", {})
    if isinstance(backbone.get("init_cfg"), dict) and backbone["init_cfg"].get("type") == "Pretrained":
        backbone["init_cfg"] = None  # no download: random initialisation
    model = init_model(cfg, None, device="cpu")
    return model.eval()


@torch.no_grad()
def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter and normalisation statistic random values (seeded), in place.

    Fresh BatchNorm statistics are 0/1, which would hide a wrong eps, a swapped mean/var or a missing BN; random
    ones do not.
    """
    gen = torch.Generator().manual_seed(seed)
    for name, tensor in model.state_dict().items():
        if not tensor.is_floating_point():
            continue
        if name.endswith("running_var"):
            tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
        elif name.endswith("running_mean"):
            tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
        else:
            fan = tensor[0].numel() if tensor.dim() > 1 else 1
            tensor.copy_(torch.randn(tensor.shape, generator=gen) / max(fan, 1) ** 0.5)
    return model


@torch.no_grad()
def twin_logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """mmseg's ``encode_decode``: logits at the input size, for already normalised ``images`` (N, 3, H, W)."""
    h, w = images.shape[-2:]
    meta = [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w))] * images.shape[0]
    return model.encode_decode(images, meta)
