"""Converted checkpoints in segzoo's cache, verified like downloads.

An upstream ``.pth``/``.bin`` checkpoint is converted once to segzoo-keyed safetensors and kept as
``<segzoo cache>/converted/<name>-<source sha256[:16]>.safetensors``, keyed by the *content* of the verified source
(never by a branch name, so a changed upstream file gets a new conversion). Beside it, ``<same>.json`` records the
converted file's sha256 and size, the source's full sha256 and where it came from, and the converter's version.
Every use re-hashes the converted file (also offline; ~0.1 s per 160 MB) and compares it with the record: a file that
does not match, or that an older converter wrote, is deleted so that the caller rebuilds it from the verified source.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from segzoo._plugins import registries
from segzoo.hub.download import cache_dir, file_sha256

log = logging.getLogger("segzoo")

#: bump when segzoo's own conversion output changes (plugin converters are versioned by their package version)
FORMAT_VERSION = 1


def converted_path(cache_name: str, source_sha256: str) -> Path:
    return cache_dir() / "converted" / f"{cache_name}-{source_sha256[:16]}.safetensors"


def _record_path(target: Path) -> Path:
    return target.with_suffix(".json")


@dataclass(frozen=True)
class Lookup:
    """A verified converted file (``path``), or why there is none usable (``problem``, ``None`` if never built)."""

    path: Path | None
    problem: str | None = None


def find(cache_name: str, source_sha256: str, converter: str) -> Lookup:
    """The converted file for this source and converter, verified against its record; bad files are deleted."""
    target = converted_path(cache_name, source_sha256)
    record_file = _record_path(target)
    if not target.exists():
        record_file.unlink(missing_ok=True)
        return Lookup(None)
    try:
        record = json.loads(record_file.read_text())
        expected, size = record["sha256"], record["size"]
        source, made_by = record["source"]["sha256"], record["converter"]
    except (OSError, ValueError, KeyError, TypeError):
        return _discard(target, f"{target} has no valid verification record")
    if made_by != converter:
        _discard(target, None)
        log.info("%s was written by converter %s, now %s: converting again", target.name, made_by, converter)
        return Lookup(None)
    if not source.startswith(source_sha256):
        return _discard(target, f"{target} records source {source[:16]}..., not {source_sha256[:16]}...")
    try:
        actual_size = target.stat().st_size
        actual = file_sha256(target) if actual_size == size else None
    except OSError as err:
        return _discard(target, f"{target} cannot be read ({err.strerror})")
    if actual != expected:
        what = (
            f"size {actual_size} instead of {size}"
            if actual is None
            else f"sha256 {actual[:16]}... instead of {expected[:16]}..."
        )
        return _discard(target, f"converted file {target} was corrupt ({what}) and was deleted")
    return Lookup(target)


def _discard(target: Path, problem: str | None) -> Lookup:
    for path in (target, _record_path(target)):
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            log.warning("could not delete %s: %s", path, err)
    if problem:
        log.warning("%s; rebuilding it from the verified source", problem)
    return Lookup(None, problem)


def store(state: dict[str, torch.Tensor], cache_name: str, *, source_sha256: str, origin: str, converter: str) -> Path:
    """Write the converted state dict and its record (each atomically, the record last)."""
    target = converted_path(cache_name, source_sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata={"format": "pt"})
        record = {
            "sha256": file_sha256(tmp),
            "size": tmp.stat().st_size,
            "source": {"sha256": source_sha256, "origin": origin},
            "converter": converter,
        }
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    record_tmp = _record_path(tmp)
    try:
        record_tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(record_tmp, _record_path(target))
    finally:
        record_tmp.unlink(missing_ok=True)
    return target


def converter_version(entry: dict) -> str:
    """Which code converts this entry: the converter's package and version, and segzoo's conversion format."""
    regs = registries()
    fmt = entry["weights"]["format"]
    for key in (f"{fmt}:{entry['architecture']}", fmt):
        if key in regs.converters:
            provider = regs.converters.get(key).provider
            plugin = regs.plugin(provider)
            version = getattr(plugin, "version", None) or "?"
            return f"{key} {provider} {version} format {FORMAT_VERSION}"
    return f"{fmt} format {FORMAT_VERSION}"
