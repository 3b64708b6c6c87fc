"""segzoo's own plugin: the catalog in registry.json, the identity converter for segzoo checkpoints, and the
torchvision-layout MobileNetV3 encoder that torchvision's segmentation checkpoints need."""

from __future__ import annotations

from segzoo.hookspecs import hookimpl


@hookimpl
def register_catalog(register) -> None:
    from segzoo._catalog import packaged_catalog_path, read_catalog

    for entry in read_catalog(packaged_catalog_path()):
        register(entry["name"], entry)


@hookimpl
def register_converters(register) -> None:
    register("segzoo", lambda state_dict, entry: state_dict, description="segzoo's own keys (save_pretrained)")


@hookimpl
def register_encoders(register) -> None:
    def build_tv_mobilenet_v3_large(**kwargs):
        from segzoo.nn.mobilenetv3 import build_tv_mobilenet_v3_large as build

        return build(**kwargs)

    register("tv_mobilenet_v3_large", build_tv_mobilenet_v3_large,
             description="torchvision's MobileNetV3-Large (its keys and numerics, without importing torchvision)")
