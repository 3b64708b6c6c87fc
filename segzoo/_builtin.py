"""segzoo's own plugin: the catalog shipped in registry.json and the identity converter for segzoo checkpoints."""

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
