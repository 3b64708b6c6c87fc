"""Trust on first use for weights whose catalog sha256 is only a short prefix (torchvision's and mmseg's 8 hex digits).

An 8-hex prefix is what the upstream put in the file name; it cannot tell two files apart that share it. After the
first download that matches the prefix, the file's full sha256 is recorded in ``<segzoo cache>/known_weights.json``
(keyed by URL, like ssh's ``known_hosts`` is keyed by host), and every later download of that URL must have exactly
that hash. The file is small JSON, written atomically; a read-only cache only loses the recording.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from segzoo._paths import cache_dir
from segzoo.errors import WeightsIntegrityError

log = logging.getLogger("segzoo")

STORE_NAME = "known_weights.json"


def store_path() -> Path:
    return cache_dir() / STORE_NAME


_cached: tuple[tuple, dict[str, dict]] | None = None


def _read() -> dict[str, dict]:
    """The store's records by URL (parsed once per change of the file: ``segzoo list`` asks for every entry)."""
    global _cached
    path = store_path()
    try:
        st = path.stat()
        signature = (str(path), st.st_mtime_ns, st.st_size)
        if _cached is not None and _cached[0] == signature:
            return _cached[1]
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable trust store %s (%s); it will be rewritten", path, err)
        return {}
    data = data if isinstance(data, dict) else {}
    _cached = (signature, data)
    return data


def record(url: str) -> dict | None:
    """``{"sha256": full hash, "first_seen": ISO date}`` recorded at the first download of ``url``, if any."""
    found = _read().get(url)
    sha = found.get("sha256") if isinstance(found, dict) else None
    return found if isinstance(sha, str) and len(sha) == 64 else None


def trusted_sha256(url: str) -> str | None:
    """The full sha256 recorded at the first download of ``url``, if any."""
    found = record(url)
    return found["sha256"] if found else None


def check_or_remember(url: str, actual_sha256: str, *, what: str) -> None:
    """Refuse ``actual_sha256`` if another hash was recorded for ``url``; record it if none was."""
    known = trusted_sha256(url)
    filename = url.rsplit("/", 1)[-1]
    if known is not None and known != actual_sha256:
        raise WeightsIntegrityError(
            f"{what}: {filename} now has sha256 {actual_sha256}, but its first download had {known} (trust store "
            f"{store_path()}): the server serves a different file under the same name and it was deleted. If the "
            f"upstream replaced it on purpose, delete the {url!r} entry from that file and retry; otherwise report it"
        )
    if known is None:
        _remember(url, actual_sha256)


def _remember(url: str, sha256: str) -> None:
    path = store_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            data = dict(_read())
            data[url] = {"sha256": sha256, "first_seen": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            fd, tmp = tempfile.mkstemp(prefix=f".{STORE_NAME}.", dir=path.parent)
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(data, f, indent=1, sort_keys=True)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
    except OSError as err:  # a read-only cache: the file was verified against its prefix all the same
        log.warning("could not record the sha256 of %s in %s (%s)", url, path, err)


@contextlib.contextmanager
def _locked(path: Path):
    """Serialise read-modify-write of the store between processes (a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
