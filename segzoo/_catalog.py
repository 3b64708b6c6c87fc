"""The catalog of pretrained models: registry.json, plugin-contributed entries and ``SEGZOO_REGISTRY`` files."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from segzoo._paths import cache_dir
from segzoo.errors import CatalogError
from segzoo.hookspecs import hookimpl

_HERE = Path(__file__).resolve().parent


def packaged_catalog_path() -> Path:
    """registry.json: the repository root's file in a source checkout, the packaged copy in an installed wheel."""
    source_tree = _HERE.parent / "registry.json"
    return source_tree if source_tree.is_file() else _HERE / "registry.json"


def schema_path() -> Path:
    return _HERE / "registry.schema.json"


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads(schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_entry(entry: Any, where: str) -> None:
    """Check one catalog entry against the JSON schema and the rules a schema cannot say."""
    if any(id(entry) in ids for ids, _ in _CHECKED.values()):
        return  # read_catalog validated this very object (or its file, byte for byte, before)
    errors = sorted(_validator().iter_errors({"schema_version": 1, "models": [entry]}), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        location = "/".join(str(p) for p in list(err.absolute_path)[2:]) or "(entry)"
        name = entry.get("name", "?") if isinstance(entry, dict) else "?"
        name = name if not isinstance(name, str) or len(name) <= 60 else name[:60] + "..."
        raise CatalogError(f"{where}: model {name!r}, field {location}: {_readable(err)}")
    names = entry.get("class_names")
    if names is not None and len(names) != entry["num_classes"]:
        raise CatalogError(
            f"{where}: model {entry['name']!r} has num_classes={entry['num_classes']} but {len(names)} class_names"
        )


def _readable(err) -> str:
    """jsonschema's message, except that long values are not echoed whole and patterns are explained."""
    if err.validator == "maxLength":
        return f"{len(err.instance)} characters, more than the {err.validator_value} allowed"
    if err.validator == "pattern" and "description" in err.schema:
        return f"{json.dumps(err.instance)[:80]} is not allowed ({err.schema['description']})"
    return err.message if len(err.message) <= 300 else err.message[:300] + "..."


# path -> (ids of the entries read_catalog last returned for it, those entries: they keep the ids unique)
_CHECKED: dict[str, tuple[set[int], list]] = {}


def _validated_stamp(raw: bytes) -> Path | None:
    """Where a stamp says that a catalog file with exactly these bytes passed the schema (this schema)."""
    try:
        digest = hashlib.sha256(raw + schema_path().read_bytes()).hexdigest()
        return cache_dir() / "catalog-validated" / digest[:40]
    except Exception:  # noqa: BLE001 - no cache location: validate every time
        return None


def read_catalog(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a registry.json-style file; errors name the file, the model and the field.

    Validating ~300 entries against the JSON schema takes about a second, so a file is validated in full once per
    content (a stamp named by the sha256 of its bytes and of the schema, in segzoo's cache); later reads of the same
    bytes skip the checks they passed.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"catalog file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CatalogError(f"catalog file {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict) or data.get("schema_version") != 1 or not isinstance(data.get("models"), list):
        raise CatalogError(f'catalog file {path} must be an object with "schema_version": 1 and a "models" list')
    models = data["models"]
    stamp = _validated_stamp(raw)
    if stamp is None or not stamp.is_file() or not all(isinstance(e, dict) for e in models):
        _CHECKED.pop(str(path), None)
        for entry in models:
            validate_entry(entry, str(path))
        if stamp is not None:
            with contextlib.suppress(OSError):  # a read-only cache only costs validating again next time
                stamp.parent.mkdir(parents=True, exist_ok=True)
                stamp.write_text(f"{path}\n")
    _CHECKED[str(path)] = ({id(e) for e in models}, models)
    return models


#: a catalog file a plugin ships in its top-level package: segzoo reads it without importing the plugin, so the
#: plugin's entries are listed (and say why they are unavailable) even while it is disabled or broken
SHIPPED_CATALOG = "segzoo-catalog.json"


def shipped_catalog(module: str) -> Path | None:
    """The :data:`SHIPPED_CATALOG` of the package that holds ``module``, found without importing anything."""
    try:
        spec = importlib.util.find_spec(module.split(".")[0])  # a top-level name: located, not executed
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location) / SHIPPED_CATALOG
        if path.is_file():
            return path
    return None


class _CatalogFile:
    """A ``SEGZOO_REGISTRY`` file, registered like a plugin so clashes and errors are reported the same way."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @hookimpl
    def register_catalog(self, register) -> None:
        for entry in read_catalog(self.path):
            register(entry["name"], entry, override=bool(entry.get("override", False)))


def add_environment_catalogs(regs) -> None:
    for part in filter(None, os.environ.get("SEGZOO_REGISTRY", "").split(os.pathsep)):
        path = Path(part).expanduser()
        regs.add_plugin(_CatalogFile(path), name=f"SEGZOO_REGISTRY:{path}", package=f"SEGZOO_REGISTRY:{path}")
