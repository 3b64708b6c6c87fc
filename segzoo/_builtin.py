"""segzoo's own plugin: the catalog in registry.json, the identity converter for segzoo checkpoints, and the
torchvision MobileNetV3 encoder that torchvision's segmentation checkpoints need (a lazy factory: discovery
imports no torch)."""

from __future__ import annotations

from typing import Any

from segzoo._catalog import packaged_catalog_path, read_catalog
from segzoo.hookspecs import hookimpl


@hookimpl
def register_catalog(register) -> None:
    for entry in read_catalog(packaged_catalog_path()):
        register(entry["name"], entry)


def identity(state_dict: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """segzoo checkpoints already have segzoo's keys."""
    return state_dict


@hookimpl
def register_converters(register) -> None:
    register("segzoo", identity, description="segzoo's own keys (save_pretrained)")


@hookimpl
def register_encoders(register) -> None:
    register(
        "tv_mobilenet_v3_large",
        "segzoo.nn.mobilenetv3:build_tv_mobilenet_v3_large",
        description="torchvision's own MobileNetV3-Large (torchvision imported only when built)",
    )
    for depth in (18, 50, 101):
        register(
            f"resnet{depth}_v1c",
            f"segzoo.nn.resnet_v1c:resnet{depth}_v1c",
            description=f"mmsegmentation's ResNetV1c-{depth} (3-conv stem) with its dilation rules (D8/D16/D32)",
        )
        register(
            f"resnet{depth}_v1b",
            f"segzoo.nn.resnet_v1c:resnet{depth}_v1b",
            description=f'mmsegmentation\'s ResNet-{depth} (7x7 stem, its "R-{depth}b") with its dilation rules',
        )
