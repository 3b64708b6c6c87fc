"""Pinned catalog entries: what "pinned" means, and ``segzoo catalog pin`` to resolve and record pins.

An entry is pinned when what it loads can never change: a Hub entry needs a 40-hex commit as ``revision`` and the
file's full sha256; a URL entry needs the full sha256 (an 8-hex prefix from the file name is trusted on first use
only, see :mod:`segzoo.hub.trust`). Pinning edits the catalog file in place, replacing only the text of each entry's
``weights`` object, so the rest of the file keeps its formatting byte for byte.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from segzoo.errors import CatalogError, WeightsError
from segzoo import _network as network
from segzoo.hub import download, trust

_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def pin_status(entry: dict[str, Any]) -> tuple[bool, str]:
    """``(pinned, reason)``: the reason says what is pinned, or what is missing and how to fix it."""
    weights = entry["weights"]
    sha = weights.get("sha256") or ""
    full = bool(_SHA256.fullmatch(sha))
    if "url" in weights:
        if full:
            return True, f"sha256 {sha[:12]}... recorded"
        seen = trust.record(weights["url"])
        if seen is None:
            return False, (
                f"only the sha256 prefix {sha!r} from the file name is recorded; the full hash of the first "
                "download is trusted from then on (trust on first use)"
            )
        return False, (
            f"only the sha256 prefix {sha!r} is in the catalog; this machine trusts "
            f"{seen['sha256'][:16]}... "
            f"since its first download ({seen.get('first_seen', '?')}); `segzoo catalog pin "
            f"{entry['name']}` writes it into the catalog"
        )
    revision = weights["hub"]["revision"]
    missing = []
    if not _COMMIT.fullmatch(revision):
        missing.append(f"revision {revision!r} is a branch or tag, not a commit")
    if not full:
        missing.append("no full sha256 of the file" if not sha else f"only the sha256 prefix {sha!r}")
    if missing:
        return False, "; ".join(missing) + f" (`segzoo catalog pin {entry['name']}` where the Hub is reachable)"
    return True, f"commit {revision[:12]}, sha256 {sha[:12]}..."


def resolve_pin(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry's ``weights`` with the revision resolved to a commit and the file's sha256 and size from the Hub."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    weights = copy.deepcopy(entry["weights"])
    hub = weights.get("hub")
    what = f"pinning {entry['name']!r}"
    if hub is None:
        return _pin_from_trust_store(entry, weights, what)
    if network.offline():
        raise WeightsError(f"{what}: HF_HUB_OFFLINE=1 is set; pinning asks the Hub, unset it")
    network.ensure_reachable(hub["repo_id"], hub["filename"], hub["revision"], what=what)
    url = hf_hub_url(hub["repo_id"], hub["filename"], revision=hub["revision"])
    try:
        meta = get_hf_file_metadata(url, timeout=network.metadata_timeout())
    except HfHubHTTPError as err:
        raise download.hub_error(err, hub["repo_id"], hub["filename"], hub["revision"], what) from None
    if not meta.commit_hash or not _COMMIT.fullmatch(meta.commit_hash):
        raise WeightsError(f"{what}: {constants.ENDPOINT} gave no commit for {hub['repo_id']}@{hub['revision']}")
    hub["revision"] = meta.commit_hash
    etag = (meta.etag or "").strip('"')
    if _SHA256.fullmatch(etag):  # LFS files: the Hub's ETag is the content's sha256
        sha, size = etag, meta.size
    else:  # small git files: download this commit's file (checked against its git hash) and hash it
        path = download.fetch_hub_file(hub["repo_id"], hub["filename"], meta.commit_hash, sha256=None, what=what)
        sha, size = download.file_sha256(path), path.stat().st_size
    old = weights.get("sha256")
    if old and not sha.startswith(old):
        raise WeightsError(
            f"{what}: the Hub's file has sha256 {sha}, which contradicts the catalog's {old}; "
            "nothing was written. Check which one is right before pinning"
        )
    weights["sha256"] = sha
    if size is not None:
        weights["size"] = int(size)
    return weights


def _pin_from_trust_store(entry: dict[str, Any], weights: dict[str, Any], what: str) -> dict[str, Any]:
    """A URL entry's full sha256: already in the catalog, or recorded by this machine's first verified download."""
    if _SHA256.fullmatch(weights["sha256"]):
        return weights
    known = trust.trusted_sha256(weights["url"])
    if known is None:
        raise WeightsError(
            f"{what}: no full sha256 of {weights['url']} is known here yet; run `segzoo download "
            f"{entry['name']}` (verified against the prefix {weights['sha256']!r} and recorded), "
            "then pin"
        )
    weights["sha256"] = known
    return weights


def write_weights(path: Path, updates: dict[str, dict[str, Any]]) -> None:
    """Replace the ``weights`` object of each named entry in the catalog file, leaving every other byte as it was."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    for name, weights in updates.items():
        start, end, indent, unit = _weights_span(text, data, name, path)
        body = json.dumps(weights, indent=unit, ensure_ascii=False) if unit else json.dumps(weights, ensure_ascii=False)
        body = body.replace("\n", "\n" + indent)
        text = text[:start] + body + text[end:]
    check = json.loads(text)  # never write a file that does not parse, or that lost an entry
    if len(check.get("models", [])) != len(data.get("models", [])):
        raise CatalogError(f"rewriting {path} would change its number of entries; nothing was written")
    tmp = path.with_name(f".{path.name}.pin.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _weights_span(text: str, data: dict, name: str, path: Path) -> tuple[int, int, str, int]:
    """Where the entry's weights value starts and ends in ``text``, its line's indentation and the indent unit."""
    entries = [m for m in data.get("models", []) if isinstance(m, dict) and m.get("name") == name]
    if len(entries) != 1:
        raise CatalogError(f"{path} has {len(entries)} entries named {name!r}; expected exactly one")
    decoder = json.JSONDecoder()
    for match in re.finditer(r'"name"\s*:\s*' + re.escape(json.dumps(name)), text):
        key = re.compile(r'"weights"\s*:\s*').search(text, match.end())
        if key is None:
            break
        value, end = decoder.raw_decode(text, key.end())
        if value != entries[0]["weights"]:
            continue
        line_start = text.rfind("\n", 0, key.start()) + 1
        indent = text[line_start : key.start()]
        inner = re.compile(r"\n([ \t]*)\S").search(text, key.end(), end)
        unit = len(inner.group(1)) - len(indent) if inner else 0
        return key.end(), end, indent, max(unit, 0)
    raise CatalogError(f"cannot locate the weights of {name!r} in {path}; edit it by hand")
