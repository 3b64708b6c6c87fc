"""The typed catalog (segzoo.catalog) and the JSON schema cannot drift apart, and parsing loses nothing."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

import pytest

import segzoo
from segzoo._catalog import packaged_catalog_path, read_catalog, schema_path
from segzoo.catalog import ModelSpec, UrlSource, spec

SCHEMA = json.loads(schema_path().read_text())


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]] | {k: v for k, v in node.items() if k != "$ref"}
    return node


def _json_types(hint: Any) -> set[str]:
    """The JSON types a Python annotation accepts (with the enum of a Literal as ``enum:...``)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return set().union(*(_json_types(a) for a in typing.get_args(hint)))
    if hint is type(None):
        return {"null"}
    if origin is Literal:
        return {"enum:" + json.dumps(sorted(typing.get_args(hint)))}
    if origin is tuple:
        return {"array"}
    if origin is Mapping or dataclasses.is_dataclass(hint):
        return {"object"}
    return {{str: "string", int: "integer", float: "number", bool: "boolean"}[hint]}


def _schema_types(node: dict) -> set[str]:
    node = _resolve(node)
    if "enum" in node:
        return {"enum:" + json.dumps(sorted(node["enum"]))}
    kind = node["type"]
    return set(kind) if isinstance(kind, list) else {kind}


def _pairs(cls: type, node: dict, where: str):
    """(where, dataclass, schema object) for the class and every nested dataclass field."""
    yield where, cls, node
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        inner = [a for a in (typing.get_args(hint) or (hint,)) if dataclasses.is_dataclass(a)]
        if inner and f.name in node.get("properties", {}):
            yield from _pairs(inner[0], _resolve(node["properties"][f.name]), f"{where}.{f.name}")


PAIRS = list(_pairs(ModelSpec, SCHEMA["$defs"]["model"], "model"))


@pytest.mark.parametrize(("where", "cls", "node"), PAIRS, ids=[p[0] for p in PAIRS])
def test_schema_and_dataclass_agree(where, cls, node):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(fields) == set(node["properties"]), f"{where}: fields differ from the schema's properties"
    required = {
        n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert required == set(node.get("required", [])), f"{where}: required fields differ"
    hints = typing.get_type_hints(cls)
    for name, prop in node["properties"].items():
        expected = _schema_types(prop)
        if name not in node.get("required", []):
            expected |= {"null"}  # an optional field is None when absent
        assert _json_types(hints[name]) == expected, f"{where}.{name}: type differs from the schema"


def test_every_packaged_entry_round_trips():
    for entry in read_catalog(packaged_catalog_path()):
        assert ModelSpec.from_dict(entry).to_dict() == entry, entry["name"]


def test_spec_is_parsed_once_per_entry_and_frozen():
    entry = next(e for e in read_catalog(packaged_catalog_path()) if "url" in e["weights"])
    first = spec(entry)
    assert spec(entry) is first
    assert first.weights.source == UrlSource(entry["weights"]["url"], entry["weights"]["sha256"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.name = "other"  # type: ignore[misc]


def test_info_is_the_spec_as_json():
    name = "deeplabv3-mobilenetv3-camvid"
    shown = segzoo.info(name)
    status = {"provided_by", "available", "unavailable", "pinned", "pin_reason"}
    assert status <= set(shown)
    entry = next(e for e in read_catalog(packaged_catalog_path()) if e["name"] == name)
    assert {k: v for k, v in shown.items() if k not in status} == spec(entry).to_dict() == entry
