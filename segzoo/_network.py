"""segzoo's network policy for the Hub: bounded timeouts and a short, explicit retry policy.

Why: left to itself, ``hf_hub_download`` of an uncached file retries an unreachable host five times with
exponential backoff (about 23 s, each retry logged), and waits up to 60 s per attempt for a server that accepts
connections and never answers (about 400 s in all). Before downloading a file that is not cached, segzoo asks the
Hub for its metadata once itself (a ``HEAD``, as huggingface_hub does) with:

* a connection and read timeout of ``HF_HUB_ETAG_TIMEOUT`` seconds (huggingface_hub's own setting, default 10);
* ``SEGZOO_HUB_RETRIES`` more attempts (default 1), ``SEGZOO_HUB_RETRY_WAIT`` seconds apart (default 1), and only
  when the connection itself failed (refused, reset, DNS); a timeout is not retried.

If the Hub cannot be reached that way, the load fails at once with one line. Answers from the Hub (404, 401, 5xx)
are left to huggingface_hub, which turns them into its own errors. The download itself streams with
huggingface_hub's ``HF_HUB_DOWNLOAD_TIMEOUT`` (default 10 s without data) as its read timeout. Files on an
upstream's own server (torchvision's, mmseg's) are fetched in one attempt with ``HF_HUB_DOWNLOAD_TIMEOUT`` as both
connection and read timeout.

``huggingface_hub`` (and its HTTP client) is imported when the network is used, not with this module, which
``segzoo.info`` imports through :mod:`segzoo.hub.pinning` during discovery.
"""

from __future__ import annotations

import logging
import os
import time
from typing import BinaryIO

from segzoo.errors import WeightsError, WeightsNotCachedError

log = logging.getLogger("segzoo")

DEFAULT_RETRIES = 1
DEFAULT_RETRY_WAIT_S = 1.0

#: what an unreachable Hub's message offers besides fixing the network
_OTHERWISE = "or use HF_HUB_OFFLINE=1 with a filled cache"


def _number(name: str, default: float, cast=float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise WeightsError(f"{name}={raw!r} is not a number; unset it or give e.g. {name}={default}") from None
    if value < 0:
        raise WeightsError(f"{name}={raw!r} must not be negative")
    return value


def metadata_timeout() -> float:
    """Seconds to wait for a connection and for each read of a metadata request (``HF_HUB_ETAG_TIMEOUT``)."""
    from huggingface_hub import constants

    return float(constants.HF_HUB_ETAG_TIMEOUT)


def retries() -> int:
    return int(_number("SEGZOO_HUB_RETRIES", DEFAULT_RETRIES, int))


def retry_wait() -> float:
    return _number("SEGZOO_HUB_RETRY_WAIT", DEFAULT_RETRY_WAIT_S)


def ensure_reachable(
    repo_id: str, filename: str, revision: str | None, *, what: str, otherwise: str = _OTHERWISE
) -> None:
    """One bounded metadata request (plus the configured retries on connection failures) before a download.

    Raises :class:`WeightsError` naming the endpoint, what happened and what to do when the Hub cannot be reached:
    check the network, ``otherwise`` (by default: offline mode with a filled cache).
    """
    import httpx2
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo_id, filename, revision=revision)
    timeout = metadata_timeout()
    attempts = retries() + 1
    for attempt in range(1, attempts + 1):
        try:
            get_hf_file_metadata(url, timeout=timeout, retry_on_errors=False)
            return
        except httpx2.TimeoutException:
            raise WeightsError(
                f"{what}: {constants.ENDPOINT} accepted the connection but did not answer within {timeout:g} s "
                f"(HF_HUB_ETAG_TIMEOUT); check the network, proxy or HF_ENDPOINT, {otherwise}"
            ) from None
        except (httpx2.NetworkError, httpx2.RemoteProtocolError) as err:
            if attempt < attempts:
                log.info("cannot connect to %s (%s); retry %d of %d", constants.ENDPOINT, err, attempt, attempts - 1)
                time.sleep(retry_wait())
                continue
            raise WeightsError(
                f"{what}: cannot reach {constants.ENDPOINT} ({_reason(err)}, {attempts} attempt(s)) to download "
                f"{repo_id}/{filename} and it is not cached; check the network or proxy (or HF_ENDPOINT), {otherwise}"
            ) from None
        except Exception:  # noqa: BLE001 - the Hub answered (404, 401, 5xx...): hf_hub_download reports it
            return


def _reason(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:120]


def stream_url(url: str, out: BinaryIO, *, what: str) -> None:
    """GET ``url`` (an upstream's own server) into ``out``, with a progress bar.

    One attempt, connection and read timeouts of ``HF_HUB_DOWNLOAD_TIMEOUT`` seconds: huggingface_hub's ``http_get``
    would retry a silent server five times (a minute), and the file is verified by its sha256 afterwards anyway.
    """
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session, tqdm

    timeout = float(constants.HF_HUB_DOWNLOAD_TIMEOUT)
    filename = url.rsplit("/", 1)[-1]
    try:
        with get_session().stream("GET", url, timeout=httpx2.Timeout(timeout), follow_redirects=True) as response:
            if response.status_code != 200:
                raise WeightsError(f"{what}: {url} answered HTTP {response.status_code}; check the URL or retry later")
            size = response.headers.get("Content-Length")
            with tqdm(
                total=int(size) if size and size.isdigit() else None,
                unit="B",
                unit_scale=True,
                desc=filename,
                name="huggingface_hub.http_get",
            ) as bar:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except httpx2.TimeoutException:
        raise WeightsError(
            f"{what}: {url} sent no data for {timeout:g} s (HF_HUB_DOWNLOAD_TIMEOUT); check the "
            "network or proxy, or retry later"
        ) from None
    except httpx2.HTTPError as err:
        raise WeightsError(f"{what}: cannot download {url} ({_reason(err)}); check the network or proxy") from None


def offline() -> bool:
    from huggingface_hub import constants

    check = getattr(constants, "is_offline_mode", None)
    return bool(check()) if check is not None else bool(constants.HF_HUB_OFFLINE)


def require_hub_file(
    repo_id: str,
    filename: str,
    revision: str | None,
    *,
    what: str,
    otherwise: str,
    alternatives: tuple[str, ...] = (),
) -> None:
    """Before a library downloads ``repo_id@revision/filename`` through huggingface_hub itself (timm's pretrained
    encoder weights), fail fast and in one line where that cannot work: the file (or one of ``alternatives``, other
    files the library would accept) is not in the Hugging Face cache and offline mode is on or the Hub cannot be
    reached (:func:`ensure_reachable`, bounded, instead of huggingface_hub's retry loop).

    A cached file needs nothing: the library reads it from the cache, offline too. ``otherwise`` ends both messages
    with what else to do (``"or ..."``).
    """
    from huggingface_hub import constants, try_to_load_from_cache

    if any(isinstance(try_to_load_from_cache(repo_id, f, revision=revision), str) for f in (filename, *alternatives)):
        return
    if offline():
        rev = f"@{revision}" if revision else ""
        raise WeightsNotCachedError(
            f"{what}: {repo_id}{rev}/{filename} is not in the local cache ({constants.HF_HUB_CACHE}) and "
            f"HF_HUB_OFFLINE=1 forbids downloading it; unset HF_HUB_OFFLINE where {constants.ENDPOINT} is reachable, "
            f"{otherwise}"
        )
    ensure_reachable(repo_id, filename, revision, what=what, otherwise=otherwise)
