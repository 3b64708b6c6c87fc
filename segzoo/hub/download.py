"""Fetching checkpoint files, always verified before use.

Hub sources go through ``huggingface_hub`` (its cache, revisions, resume, offline mode), after a bounded reachability
check (:mod:`segzoo._network`). URL sources (torchvision's and mmseg's download servers) are fetched in one bounded
attempt, checked against the catalog's sha256 or its prefix plus the trust store (:mod:`segzoo.hub.trust`), and
converted once to verified safetensors in segzoo's cache (:mod:`segzoo.hub.converted`). A file whose sha256 differs
from the expected one is deleted and refused.

``huggingface_hub`` is imported when a file is fetched, not with this module: ``segzoo.info`` (pinning) imports it
during discovery, which stays light.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from segzoo._paths import cache_dir  # noqa: F401 - where it always was, for converters and tests
from segzoo.errors import WeightsError, WeightsIntegrityError, WeightsNotCachedError
from segzoo import _network as network
from segzoo.hub import trust

log = logging.getLogger("segzoo")

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# -- hashing -------------------------------------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return cache_dir() / "verified" / hashlib.sha256(str(path).encode()).hexdigest()[:40]


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _already_verified(path: Path, expected: str) -> bool:
    """A file verified once is not re-hashed on every load, unless it changed size or mtime since."""
    try:
        record = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return False
    return record.get("expected") == expected and record.get("stat") == _stamp(path)


def _remember_verified(path: Path, expected: str) -> None:
    stamp = _stamp_path(path)
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"expected": expected, "stat": _stamp(path)}))
    except OSError:  # a read-only cache only costs re-hashing next time
        pass


def hash_matches(actual_sha256: str, expected: str) -> bool:
    """``expected`` is a full sha256 or a prefix of at least 8 hex digits (torch.hub's file-name convention)."""
    return actual_sha256.startswith(expected.lower())


# -- Hub sources ---------------------------------------------------------------------------------------------------
def fetch_hub_file(repo_id: str, filename: str, revision: str | None, *, sha256: str | None, what: str) -> Path:
    """Download (or find in the cache) one file of a Hub repo and verify it; returns its path in the HF cache.

    Without a recorded ``sha256`` the file is checked against the Hub's own ETag (sha256 for LFS files, git blob
    sha1 for small files), which catches corrupted and truncated transfers.
    """
    from huggingface_hub import constants, errors, hf_hub_download, try_to_load_from_cache

    rev = f"@{revision}" if revision else ""
    where = f"{repo_id}{rev}/{filename}"
    if not network.offline() and not isinstance(try_to_load_from_cache(repo_id, filename, revision=revision), str):
        network.ensure_reachable(repo_id, filename, revision, what=what)  # bounded, instead of ~23-400 s of retries
    try:
        # offline, straight to the cache: otherwise huggingface_hub first sets up an HTTP client (its TLS context,
        # ~50 ms, most of a cached load) only to learn that it may not use it
        path = Path(hf_hub_download(repo_id, filename, revision=revision, local_files_only=network.offline()))
    except errors.LocalEntryNotFoundError:
        if network.offline():
            raise WeightsNotCachedError(
                f"{what} is not in the local cache and HF_HUB_OFFLINE=1 forbids downloading it; run "
                f"`segzoo download` for it where {constants.ENDPOINT} is reachable, or unset HF_HUB_OFFLINE"
            ) from None
        raise WeightsError(
            f"{what}: cannot reach {constants.ENDPOINT} to download {where} and it is not cached; check the network "
            "or proxy (or HF_ENDPOINT), or use HF_HUB_OFFLINE=1 with a filled cache"
        ) from None
    except errors.HfHubHTTPError as err:  # before OSError, which it subclasses
        raise hub_error(err, repo_id, filename, revision, what) from None
    except OSError as err:
        raise _disk_error(err, what) from None
    _verify_hub_blob(path, sha256, what)
    return path


def hub_error(err: Exception, repo_id: str, filename: str, revision: str | None, what: str) -> WeightsError:
    """One line for an error answer of the Hub about ``repo_id@revision/filename``."""
    from huggingface_hub import constants, errors

    rev = f"@{revision}" if revision else ""
    if isinstance(err, errors.RepositoryNotFoundError):
        return WeightsError(
            f"{what}: repository {repo_id!r} not found on {constants.ENDPOINT} (404); check the name, "
            "or log in with `hf auth login` if it is private"
        )
    if isinstance(err, errors.RevisionNotFoundError):
        return WeightsError(f"{what}: revision {revision!r} does not exist in {repo_id!r} (404)")
    if isinstance(err, errors.EntryNotFoundError):
        return WeightsError(f"{what}: file {filename!r} not found in {repo_id}{rev} (404)")
    return WeightsError(f"{what}: request for {repo_id}{rev}/{filename} failed: {(str(err).splitlines() or [''])[0]}")


def _verify_hub_blob(path: Path, sha256: str | None, what: str) -> None:
    blob = path.resolve()
    etag = blob.name
    expected = sha256 or etag
    if _already_verified(blob, expected):
        return
    if sha256:
        ok = hash_matches(file_sha256(blob), sha256)
    elif len(etag) == 64:
        ok = file_sha256(blob) == etag
    elif len(etag) == 40:
        ok = _git_blob_sha1(blob) == etag
    else:  # an ETag that is no hash (some mirrors): nothing to check against
        log.info("%s: %s has no content hash to verify against", what, path.name)
        ok = True
    if not ok:
        for p in (path, blob):
            p.unlink(missing_ok=True)
        raise WeightsIntegrityError(
            f"{what}: {path.name} does not match its expected sha256 ({expected[:16]}...): the download was "
            "corrupted or tampered with; it was deleted from the cache. Retry; if it persists the server is serving "
            "a different file than the catalog records"
        )
    _remember_verified(blob, expected)


def _disk_error(err: OSError, what: str) -> WeightsError:
    if err.errno == errno.ENOSPC:
        return WeightsError(
            f"{what}: no space left on device under {cache_dir().parent}; free space or set "
            "HF_HUB_CACHE to a larger disk"
        )
    if err.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return WeightsError(
            f"{what}: cannot write to the cache ({err.strerror}: {err.filename}); set HF_HUB_CACHE "
            "to a writable directory"
        )
    return WeightsError(f"{what}: {type(err).__name__}: {err}")


# -- URL sources ---------------------------------------------------------------------------------------------------
def _check_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in _LOOPBACK):
        return
    raise WeightsError(
        f"refusing to download weights over {parsed.scheme or 'an unknown scheme'}: {url} "
        "(only https, or http on loopback for local mirrors)"
    )


@contextlib.contextmanager
def downloaded_url(url: str, sha256: str, *, what: str) -> Iterator[tuple[Path, str]]:
    """Download ``url`` to a temporary file in segzoo's cache and verify it; yields ``(path, full sha256)``.

    ``sha256`` may be a full hash or a prefix; for a prefix, the full hash of the first verified download is recorded
    and later downloads must match it (:mod:`segzoo.hub.trust`). The temporary file is deleted afterwards.
    """
    if network.offline():
        raise WeightsNotCachedError(
            f"{what} is not in the local cache and HF_HUB_OFFLINE=1 forbids downloading it; run `segzoo download` "
            "for it with network access, or unset HF_HUB_OFFLINE"
        )
    _check_url(url)
    folder = cache_dir() / "downloads"
    filename = Path(urlparse(url).path).name or "weights"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix="-" + filename[-100:], dir=folder)
    except OSError as err:
        raise _disk_error(err, what) from None
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                network.stream_url(url, f, what=what)
        except OSError as err:
            raise _disk_error(err, what) from None
        actual = file_sha256(tmp)
        if not hash_matches(actual, sha256):
            raise WeightsIntegrityError(
                f"{what}: {filename} has sha256 {actual[:16]}..., the catalog expects {sha256[:16]}...: the download "
                "was corrupted or tampered with and was deleted. Retry; if it persists, report the mirror"
            )
        if len(sha256) < 64:
            trust.check_or_remember(url, actual, what=what)
        yield tmp, actual
    finally:
        tmp.unlink(missing_ok=True)
