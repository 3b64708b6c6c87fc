"""Encoders: networks that turn an image into a pyramid of feature maps."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, cast

import torch
from torch import nn

from segzoo._network import require_hub_file
from segzoo._registry import check_options, encoder_registry
from segzoo.errors import ConfigurationError

if TYPE_CHECKING:
    from timm.models import FeatureInfo

#: what ``create_encoder`` gives every registered encoder's builder; the rest are the encoder's own options
_PASSED_TO_ENCODERS = ("in_channels", "output_stride", "pretrained")


class Encoder(nn.Module):
    """Base class of all encoders.

    ``forward(x)`` returns a list of feature maps, finest first. ``out_channels[i]`` and ``reductions[i]`` describe
    map ``i`` (``reductions`` is the input-to-feature stride, dilation taken into account), so decoders can be built
    without running the network.
    """

    out_channels: list[int]
    reductions: list[int]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


class TimmEncoder(Encoder):
    """Any timm backbone that supports ``features_only``.

    The timm network lives under ``body``, so state_dict keys are ``body.<timm key>`` (for ResNets the same names as
    torchvision's: ``body.conv1``, ``body.layer1``...).
    """

    def __init__(
        self,
        name: str,
        *,
        in_channels: int = 3,
        output_stride: int = 32,
        out_indices: tuple[int, ...] | None = None,
        pretrained: bool = False,
    ) -> None:
        super().__init__()
        import timm

        kwargs: dict = {"features_only": True, "in_chans": in_channels, "pretrained": pretrained}
        if out_indices is not None:
            kwargs["out_indices"] = out_indices
        if output_stride != 32:
            kwargs["output_stride"] = output_stride
        if pretrained:
            _check_pretrained_source(name)
        try:
            self.body = timm.create_model(name, **kwargs)
        except (TypeError, RuntimeError, AssertionError, ValueError) as err:
            if "features_only" in str(err) or "feature" in str(err).lower():
                raise ConfigurationError(
                    f"timm model {name!r} cannot give multi-scale features (features_only): {err}. "
                    "Pick a CNN or hierarchical transformer backbone, e.g. 'resnet50' or 'convnext_tiny'."
                ) from err
            if output_stride != 32:
                raise ConfigurationError(
                    f"timm model {name!r} does not support output_stride={output_stride} (dilation): {err}. "
                    "Use output_stride=32 or a ResNet-style backbone."
                ) from err
            raise
        self.name = name
        # hierarchical transformers (Swin...) give channels-last maps; decoders expect (N, C, H, W)
        self.channels_last_output = str(getattr(self.body, "output_fmt", "NCHW")).endswith("NHWC")
        self.out_channels = list(self.feature_info.channels())
        self.reductions = list(self.feature_info.reduction())

    @property
    def feature_info(self) -> FeatureInfo:
        """timm's description of the features (channels, reductions, out_indices) of the ``features_only`` body."""
        # nn.Module.__getattr__ is typed Tensor | Module; a features_only timm model holds a FeatureInfo here
        return cast("FeatureInfo", self.body.feature_info)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.body(x)
        if self.channels_last_output:
            return [f.permute(0, 3, 1, 2) for f in features]
        return list(features)


def _check_pretrained_source(name: str) -> None:
    """Where timm will download ``name``'s ImageNet weights from the Hub (through huggingface_hub, into its cache),
    fail at once with one line if they are not cached and cannot be downloaded (offline mode, an unreachable Hub),
    instead of after huggingface_hub's retries (about a minute) with a message naming neither the encoder nor the
    file. Cached weights load as before, offline too; weights from elsewhere (a URL) are left to timm."""
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError:  # an unknown pretrained tag: timm.create_model says so
        return
    if cfg is None or not cfg.hf_hub_id:
        return
    if cfg.source != "hf-hub":  # timm's order: a local file or state dict first, then the Hub
        if cfg.source == "local-dir" or cfg.file or cfg.state_dict is not None:
            return
        if cfg.url and os.environ.get("TIMM_USE_OLD_CACHE", "0").strip() not in ("", "0"):
            return  # timm may take them from its torch.hub cache instead
    repo_id, _, revision = cfg.hf_hub_id.partition("@")
    # timm reads model.safetensors, else pytorch_model.bin (or the file its config names, or its .safetensors twin)
    filename = cfg.hf_hub_filename or "model.safetensors"
    if cfg.hf_hub_filename:
        alternatives = (filename[: -len(".bin")] + ".safetensors",) if filename.endswith(".bin") else ()
    else:
        alternatives = ("pytorch_model.bin",)
    fetch = f"hf download {repo_id} {filename}" + (f" --revision {revision}" if revision else "")
    require_hub_file(
        repo_id,
        filename,
        revision or None,
        what=f"ImageNet weights of encoder {name!r}",
        otherwise=(
            f"or fill the Hugging Face cache on a connected machine (`{fetch}`) and copy it "
            "here (HF_HUB_CACHE), or build the encoder without them (pretrained_encoder=False; for segzoo train, "
            "leave out --pretrained-encoder)"
        ),
        alternatives=alternatives,
    )


def create_encoder(
    name: str,
    *,
    in_channels: int = 3,
    output_stride: int = 32,
    out_indices: tuple[int, ...] | None = None,
    depth: int | None = None,
    pretrained: bool = False,
    options: dict | None = None,
) -> Encoder:
    """Build an encoder by name: a plugin-registered encoder first, otherwise a timm backbone.

    ``options`` are keyword arguments of a registered encoder's builder (e.g. ``dilations`` of ``resnet50_v1c``).

    ``depth`` counts stages as smp's ``encoder_depth`` does: depth ``d`` keeps the features whose stride (before
    dilation) is at most ``2**d`` (ResNet: depth 3 = stem, layer1, layer2); deeper stages are not built.
    """
    if depth is not None and options:
        raise ConfigurationError("encoder options and encoder depth cannot be combined; leave one of them unset")
    if depth is not None:
        return _encoder_with_depth(
            name, depth, in_channels=in_channels, output_stride=output_stride, pretrained=pretrained
        )
    if output_stride not in (8, 16, 32):
        raise ConfigurationError(f"output_stride must be 8, 16 or 32, got {output_stride}")
    encoders = encoder_registry()
    if name in encoders:
        builder, options = encoders.get(name).obj, options or {}
        check_options(f"encoder {name!r}", builder, options, passed_by_segzoo=_PASSED_TO_ENCODERS)
        encoder = builder(in_channels=in_channels, output_stride=output_stride, pretrained=pretrained, **options)
    else:
        if options:
            raise ConfigurationError(
                f"encoder options {sorted(options)} apply to segzoo-registered encoders; timm's {name!r} takes none"
            )
        import timm

        if not timm.is_model(name):
            encoders.get(name, extra_names=timm.list_models())  # raises with "did you mean"
        encoder = TimmEncoder(
            name, in_channels=in_channels, output_stride=output_stride, out_indices=out_indices, pretrained=pretrained
        )
    if output_stride != 32 and max(encoder.reductions) != output_stride:
        raise ConfigurationError(
            f"encoder {name!r} gives features down to stride {max(encoder.reductions)}, not the requested "
            f"output_stride={output_stride}; use output_stride=32 or a backbone that supports dilation"
        )
    return encoder


def _encoder_with_depth(name: str, depth: int, *, in_channels: int, output_stride: int, pretrained: bool) -> Encoder:
    if not isinstance(depth, int) or not 1 <= depth <= 5:
        raise ConfigurationError(f"encoder depth must be an integer in 1..5 (or None for all stages), got {depth!r}")
    try:
        with torch.device("meta"):
            probe = create_encoder(name, in_channels=in_channels)
    except (NotImplementedError, RuntimeError):  # some builders do not run on the meta device
        probe = create_encoder(name, in_channels=in_channels)
    keep = [i for i, r in enumerate(probe.reductions) if r <= 2**depth]
    if not keep:
        raise ConfigurationError(f"depth={depth} keeps no feature of {name!r} (its strides are {probe.reductions})")
    if len(keep) == len(probe.reductions):
        return create_encoder(name, in_channels=in_channels, output_stride=output_stride, pretrained=pretrained)
    if not isinstance(probe, TimmEncoder):
        raise ConfigurationError(
            f"depth={depth} needs a timm encoder (it selects timm out_indices); {name!r} is a plugin-registered "
            "encoder: leave depth unset"
        )
    original = tuple(probe.feature_info.out_indices)
    return TimmEncoder(
        name,
        in_channels=in_channels,
        output_stride=output_stride,
        out_indices=tuple(original[i] for i in keep),
        pretrained=pretrained,
    )
