"""A small Hugging Face Hub-compatible HTTP server for tests (stdlib only).

Why: segzoo and its plugins load weights with the *real* ``huggingface_hub`` client. Mocking that client would
test our mocks, not the download, caching, revision and upload code paths users actually run. ``HubServer``
speaks enough of the Hub's HTTP protocol for ``hf_hub_download``, ``snapshot_download``, ``HfApi.model_info``,
``create_repo``, ``upload_folder``/``push_to_hub``, ``create_tag``/``create_branch`` to run unmodified against
``127.0.0.1``.

Model of the Hub (kept deliberately small):

* Repos are model repos only. ``create_repo`` makes an initial commit holding a ``.gitattributes`` file, as the
  real Hub does.
* Every commit stores a **full snapshot** of the repo; :meth:`HubServer.commit` takes a **delta** (files to add or
  overwrite, paths to delete) on top of the branch head. Commit ids are 40-hex strings.
* A file is stored with Git LFS when its name ends with one of :data:`LFS_SUFFIXES` or its size is at least
  ``lfs_threshold`` bytes. For those, ``/resolve`` answers ``302`` to a separate "CDN" listener (another port on
  127.0.0.1, i.e. another origin, like the real CDN) with ``X-Linked-Etag``/``X-Linked-Size``; regular files are
  served directly with their git blob sha1 as ``ETag``.
* Uploads use the legacy LFS "basic" transfer (PUT to the CDN listener). The server never offers Xet, but
  ``huggingface_hub`` picks Xet for uploads on its own whenever ``hf_xet`` is installed, so clients must run with
  ``HF_HUB_DISABLE_XET=1`` (the ``hf_env``/``hub_server`` pytest fixtures do that).
* Any token (or none) is accepted. Everything is held in memory.

Fault injection: :meth:`HubServer.tamper` corrupts served bytes while the advertised hashes stay the same;
:meth:`HubServer.down` makes the server unreachable (connection refused). :attr:`HubServer.requests` logs every
request so tests can assert that a cache hit made no download.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import os
import re
import socket
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path, PurePosixPath
from types import MappingProxyType, TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["LFS_SUFFIXES", "HubServer", "LoggedRequest"]

#: File name suffixes always stored with Git LFS (whatever their size), like the Hub's default ``.gitattributes``.
LFS_SUFFIXES: tuple[str, ...] = (".safetensors", ".bin", ".pth", ".pt", ".ckpt", ".onnx", ".h5", ".msgpack")

_HOST = "127.0.0.1"  # loopback only: test servers must never be reachable from outside the machine
_MAX_BODY = 1 << 30  # refuse request bodies above 1 GiB (everything is held in memory)
_MAX_CHUNKS = 1 << 20  # bound on chunked transfer-encoding chunks per request body
_POLL_INTERVAL_S = 0.02  # serve_forever() select() timeout: bounds how long stop() waits for the accept loop
_JOIN_TIMEOUT_S = 5.0
_SHA_RE = re.compile(r"[0-9a-f]{40}")
_SHORT_SHA_RE = re.compile(r"[0-9a-f]{7,39}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_REPO_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")
_API_ACTIONS = frozenset({"revision", "tree", "refs", "preupload", "commit", "branch", "tag"})
_GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES)


class LoggedRequest(NamedTuple):
    """One request seen by the server: compares equal to a plain ``(method, path)`` tuple."""

    method: str
    path: str  # as sent by the client: percent-encoded, with the query string


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class _Blob:
    """File content plus the hashes the Hub advertises for it."""

    data: bytes
    lfs: bool
    sha256: str
    content_sha1: str  # git blob sha1 of the content (the ETag of a regular file)
    git_oid: str  # git object id in the tree: content_sha1, or the sha1 of the LFS pointer file
    pointer_size: int  # size of the LFS pointer file, 0 for regular files

    @classmethod
    def make(cls, data: bytes, *, lfs: bool) -> _Blob:
        sha256 = hashlib.sha256(data).hexdigest()
        content_sha1 = _git_blob_sha1(data)
        if not lfs:
            return cls(data, False, sha256, content_sha1, content_sha1, 0)
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()
        return cls(data, True, sha256, content_sha1, _git_blob_sha1(pointer), len(pointer))

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def etag(self) -> str:
        """What the client caches the blob under: sha256 for LFS files, git sha1 otherwise."""
        return self.sha256 if self.lfs else self.content_sha1


@dataclass(frozen=True)
class _Commit:
    oid: str
    parent: str | None
    message: str
    date: str
    files: Mapping[str, _Blob]  # full snapshot: path -> blob


@dataclass
class _Repo:
    repo_id: str
    created_at: str
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class _HttpError(Exception):
    """Raised by route handlers; rendered like the Hub renders errors (JSON body + ``X-Error-*`` headers)."""

    def __init__(
        self, status: int, message: str, *, error_code: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = dict(headers or {})

    def response(self) -> _Response:
        headers = {"X-Error-Message": self.message, **self.headers}
        if self.error_code is not None:
            headers["X-Error-Code"] = self.error_code
        return _Response(self.status, _json_bytes({"error": self.message}), headers)


@dataclass(frozen=True)
class _Request:
    method: str
    segments: list[str]  # percent-decoded path segments
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.body or b"{}")
        except ValueError as e:
            raise _HttpError(400, f"Invalid JSON body: {e}") from e
        if not isinstance(payload, dict):
            raise _HttpError(400, "JSON body must be an object")
        return payload

    def flag(self, name: str) -> bool:
        return self.query.get(name, [""])[-1].lower() in ("1", "true")


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def _json(payload: Any, status: int = 200, content_type: str = "application/json") -> _Response:
    return _Response(status, _json_bytes(payload), content_type=content_type)


def _content(data: bytes, headers: dict[str, str], range_header: str | None) -> _Response:
    """200 with the whole content, or 206/416 for a single ``Range`` (huggingface_hub resumes with ``bytes=N-``)."""
    headers = {"Accept-Ranges": "bytes", **headers}
    match = _RANGE_RE.fullmatch(range_header.strip()) if range_header else None
    if match is None or match.group(1) == match.group(2) == "":
        return _Response(200, data, headers, "application/octet-stream")  # no/multi/invalid range: ignore it
    size = len(data)
    first, last = match.groups()
    if first == "":  # suffix range: the last N bytes
        start, end = max(size - int(last), 0), size - 1
        unsatisfiable = int(last) == 0 or size == 0
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
        if last and int(last) < start:
            return _Response(200, data, headers, "application/octet-stream")  # invalid range: ignore it
        unsatisfiable = start >= size
    if unsatisfiable:
        raise _HttpError(416, "Range Not Satisfiable", headers={"Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _Response(206, data[start : end + 1], headers, "application/octet-stream")


def _split_repo(segments: list[str], keywords: Iterable[str], exists: Callable[[str], bool]) -> tuple[str, list[str]]:
    """Split ``[ns, name, keyword, ...]`` or ``[name, keyword, ...]`` into a repo id and the remaining segments.

    Repo ids may have one or two segments, so a segment equal to a route keyword is ambiguous: the two-segment
    reading wins unless only the one-segment repo exists.
    """
    keywords = frozenset(keywords)
    if not segments:
        raise _HttpError(404, "Not Found")
    two = "/".join(segments[:2])
    two_shaped = len(segments) >= 2 and (len(segments) == 2 or segments[2] in keywords)
    one_shaped = len(segments) == 1 or segments[1] in keywords
    if two_shaped and (not one_shaped or exists(two) or not exists(segments[0])):
        return two, segments[2:]
    if one_shaped:
        return segments[0], segments[1:]
    raise _HttpError(404, "Not Found")


class _Listener(http.server.ThreadingHTTPServer):
    """One listening socket on 127.0.0.1 (the Hub, or its CDN) that remembers its open connections.

    Why: stopping the server must also cut connections that are open or in flight, otherwise a "down" server keeps
    answering on them.
    """

    daemon_threads = True
    allow_reuse_address = True  # so down()/start() can rebind the same port right away

    def __init__(self, hub: HubServer, role: str, port: int) -> None:
        self.hub = hub
        self.role = role
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((_HOST, port), _Handler)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def abort_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Parses the request, delegates to :class:`HubServer`, writes the response; one request per connection."""

    server: _Listener
    protocol_version = "HTTP/1.1"
    server_version = "segzoo-test-hub"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr logging; requests are in :attr:`HubServer.requests`."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        # No keep-alive: every response closes its connection, so a pooled connection can never outlive a stop().
        self.close_connection = True
        hub = self.server.hub
        hub._log(method, self.path)
        try:
            split = urlsplit(self.path)
            request = _Request(
                method=method,
                segments=[unquote(s) for s in split.path.split("/")[1:]],
                query=parse_qs(split.query),
                headers=self.headers,
                body=self._read_body(),  # always drained: unread request bytes make close() send a TCP RST
            )
            response = hub._dispatch(self.server.role, request)
        except _HttpError as e:
            response = e.response()
        except Exception:
            hub._record_error(traceback.format_exc())
            response = _HttpError(500, "Internal error in HubServer (see HubServer.errors)").response()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(method, response)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            total = 0
            for _ in range(_MAX_CHUNKS):
                try:
                    size = int(self.rfile.readline(1 << 16).split(b";")[0].strip() or b"0", 16)
                except ValueError as e:
                    raise _HttpError(400, "Invalid chunk size in request body") from e
                if size == 0:
                    for _ in range(64):  # optional trailers, then the blank line
                        if self.rfile.readline(1 << 16) in (b"\r\n", b"\n", b""):
                            break
                    return b"".join(parts)
                total += size
                if total > _MAX_BODY:
                    raise _HttpError(413, "Request body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(1 << 16)  # CRLF after the chunk
            raise _HttpError(400, "Too many chunks in request body")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as e:
            raise _HttpError(400, "Invalid Content-Length") from e
        if length > _MAX_BODY:
            raise _HttpError(413, "Request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, method: str, response: _Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            # Header values echo client input (revisions, paths): no CR/LF, and latin-1 only, as HTTP requires.
            value = value.replace("\r", " ").replace("\n", " ")
            self.send_header(name, value.encode("latin-1", "backslashreplace").decode("latin-1"))
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)


class HubServer:
    """In-memory Hugging Face Hub on ``127.0.0.1`` for tests.

    Usage::

        with HubServer() as hub:
            hub.commit("org/model", {"config.json": "{}", "model.safetensors": weights_bytes})
            # point huggingface_hub at hub.url (HF_ENDPOINT + constants; see segzoo.testing.pytest_plugin)

    Two listeners are started: the Hub API at :attr:`url` and a CDN at :attr:`cdn_url` which serves LFS content
    (``/cdn/<sha256>``) and accepts LFS uploads (``PUT /lfs-upload/<sha256>``). The Python methods below mutate
    state directly (no HTTP) and are thread-safe with respect to requests being served; they raise ``KeyError``
    for an unknown repo, revision or file and ``ValueError`` for invalid input.
    """

    def __init__(self, *, lfs_threshold: int = 10_000, port: int = 0) -> None:
        """``lfs_threshold``: files of at least this many bytes are stored with LFS, whatever their name.
        ``port``: the Hub listener's port (0: a free one); the CDN always takes a free port."""
        self.lfs_threshold = lfs_threshold
        self._lock = threading.RLock()
        self._repos: dict[str, _Repo] = {}
        self._lfs_objects: dict[str, bytes] = {}  # sha256 -> content (committed or just uploaded)
        self._tampered: dict[str, bytes] = {}  # blob etag -> corrupted bytes served instead
        self._requests: list[LoggedRequest] = []
        self._errors: list[str] = []
        self._commit_counter = 0
        self._ports: dict[str, int] = {"hub": port, "cdn": 0}  # 0 until first start: pick free ports
        self._listeners: list[tuple[_Listener, threading.Thread]] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> HubServer:
        """Start listening (on free ports the first time, on the same ports after :meth:`stop`). Returns self."""
        with self._lock:
            if self._listeners:
                return self
            for role in ("hub", "cdn"):
                listener = _Listener(self, role, self._ports[role])
                self._ports[role] = listener.server_address[1]
                thread = threading.Thread(
                    target=listener.serve_forever,
                    kwargs={"poll_interval": _POLL_INTERVAL_S},
                    name=f"HubServer-{role}-{self._ports[role]}",
                    daemon=True,
                )
                thread.start()
                self._listeners.append((listener, thread))
        return self

    def stop(self) -> None:
        """Stop listening and cut open connections: clients then get "connection refused". State is kept."""
        with self._lock:
            listeners, self._listeners = self._listeners, []
        for listener, thread in listeners:
            listener.shutdown()  # returns once serve_forever() has left its loop
            listener.server_close()
            listener.abort_connections()
            thread.join(_JOIN_TIMEOUT_S)

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Simulate a Hub outage: the server is unreachable inside the ``with`` block and back up after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    @property
    def is_running(self) -> bool:
        return bool(self._listeners)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Hub endpoint, e.g. ``http://127.0.0.1:54321`` (use it as ``HF_ENDPOINT``)."""
        return self._base_url("hub")

    @property
    def cdn_url(self) -> str:
        """Origin serving LFS content; a different origin than :attr:`url`, like the real CDN."""
        return self._base_url("cdn")

    def _base_url(self, role: str) -> str:
        if not self._ports[role]:
            raise RuntimeError("HubServer has not been started")
        return f"http://{_HOST}:{self._ports[role]}"

    # ------------------------------------------------------------------ content

    def create_repo(self, repo_id: str, *, exist_ok: bool = False) -> str:
        """Create a model repo with an initial commit holding ``.gitattributes``; return that commit's id."""
        if not _REPO_ID_RE.fullmatch(repo_id) or "--" in repo_id or repo_id.endswith(".git"):
            raise ValueError(f"Invalid repo id: {repo_id!r}")
        with self._lock:
            if repo_id in self._repos:
                if not exist_ok:
                    raise ValueError(f"Repo {repo_id!r} already exists")
                return self._repos[repo_id].branches["main"]
            repo = _Repo(repo_id, created_at=_now_iso())
            self._repos[repo_id] = repo
            gitattributes = _Blob.make(_GITATTRIBUTES.encode(), lfs=False)
            return self._new_commit(repo, "main", {".gitattributes": gitattributes}, "initial commit")

    def commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str | os.PathLike[str]] = MappingProxyType({}),
        *,
        branch: str = "main",
        message: str = "Upload files with HubServer.commit",
        delete: Iterable[str] = (),
    ) -> str:
        """Commit ``files`` (added or overwritten) and ``delete`` (removed) on top of ``branch``; return the commit id.

        Values are the file content: ``bytes``, ``str`` (UTF-8 text, *not* a path) or a ``Path`` to read. The repo
        is created if needed; the branch must exist (see :meth:`create_branch`).
        """
        blobs: dict[str, _Blob] = {}
        for path, value in files.items():
            _check_path(path)
            if isinstance(value, bytes):
                data = value
            elif isinstance(value, str):
                data = value.encode()
            else:
                data = Path(value).read_bytes()
            blobs[path] = _Blob.make(data, lfs=self.is_lfs(path, len(data)))
        with self._lock:
            self.create_repo(repo_id, exist_ok=True)
            repo = self._repos[repo_id]
            if branch not in repo.branches:
                raise ValueError(f"Branch {branch!r} does not exist in {repo_id!r}")
            snapshot = dict(repo.commits[repo.branches[branch]].files)
            for path in delete:
                if snapshot.pop(path, None) is None:
                    raise ValueError(f"Cannot delete {path!r}: not in {repo_id!r}@{branch}")
            snapshot.update(blobs)
            return self._new_commit(repo, branch, snapshot, message)

    def create_branch(self, repo_id: str, branch: str, *, revision: str = "main") -> str:
        """Create ``branch`` pointing at ``revision``; return the commit id."""
        return self._add_ref(repo_id, "branches", branch, revision)

    def create_tag(self, repo_id: str, tag: str, *, revision: str = "main") -> str:
        """Create ``tag`` pointing at ``revision``; return the commit id."""
        return self._add_ref(repo_id, "tags", tag, revision)

    def resolve(self, repo_id: str, revision: str = "main") -> str:
        """Commit id that ``revision`` (branch, tag, full or short commit id) points at."""
        return self._lookup(repo_id, revision).oid

    def list_files(self, repo_id: str, revision: str = "main") -> list[str]:
        return sorted(self._lookup(repo_id, revision).files)

    def read(self, repo_id: str, path: str, revision: str = "main") -> bytes:
        """Stored content of a file (as committed; ignores :meth:`tamper`)."""
        return self._blob(repo_id, path, revision).data

    def is_lfs(self, path: str, size: int) -> bool:
        """Whether a file is stored with LFS: by suffix (:data:`LFS_SUFFIXES`) or by size (``lfs_threshold``).

        Empty files are never LFS files (git-lfs leaves them alone and huggingface_hub uploads them inline).
        """
        return size > 0 and (path.endswith(LFS_SUFFIXES) or size >= self.lfs_threshold)

    # ------------------------------------------------------------------ faults and observability

    def tamper(self, repo_id: str, filename: str, revision: str = "main") -> None:
        """Flip one byte of the bytes served for ``filename`` while its ETag/sha256/size stay as advertised.

        Simulates a corrupted transfer or a tampered CDN object. Content-addressed: every file with the same
        content is affected. Raises ``ValueError`` for an empty file.
        """
        with self._lock:
            blob = self._blob(repo_id, filename, revision)
            data = bytearray(self._tampered.get(blob.etag, blob.data))
            if not data:
                raise ValueError(f"Cannot tamper with empty file {filename!r}")
            data[len(data) // 2] ^= 0xFF
            self._tampered[blob.etag] = bytes(data)

    @property
    def requests(self) -> list[LoggedRequest]:
        """Copy of the request log (both listeners), oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def errors(self) -> list[str]:
        """Tracebacks of unexpected exceptions raised while serving (answered with HTTP 500)."""
        with self._lock:
            return list(self._errors)

    # ------------------------------------------------------------------ internals: state

    def _log(self, method: str, raw_path: str) -> None:
        with self._lock:
            self._requests.append(LoggedRequest(method, raw_path))

    def _record_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def _repo(self, repo_id: str) -> _Repo:
        repo = self._repos.get(repo_id)
        if repo is None:
            raise _HttpError(404, "Repository not found", error_code="RepoNotFound")
        return repo

    def _commit_of(self, repo: _Repo, revision: str) -> _Commit:
        oid = repo.branches.get(revision) or repo.tags.get(revision)
        if oid is None and _SHA_RE.fullmatch(revision) and revision in repo.commits:
            oid = revision
        if oid is None and _SHORT_SHA_RE.fullmatch(revision):
            matches = [sha for sha in repo.commits if sha.startswith(revision)]
            oid = matches[0] if len(matches) == 1 else None
        if oid is None:
            raise _HttpError(404, f"Invalid rev id: {revision}", error_code="RevisionNotFound")
        return repo.commits[oid]

    def _lookup(self, repo_id: str, revision: str) -> _Commit:
        """Commit for the Python API: unknown repos/revisions raise ``KeyError`` rather than an HTTP error."""
        with self._lock:
            try:
                return self._commit_of(self._repo(repo_id), revision)
            except _HttpError as e:
                raise KeyError(f"{repo_id}@{revision}: {e.message}") from None

    def _blob(self, repo_id: str, path: str, revision: str) -> _Blob:
        blob = self._lookup(repo_id, revision).files.get(path)
        if blob is None:
            raise KeyError(f"{path!r} not found in {repo_id}@{revision}")
        return blob

    def _add_ref(self, repo_id: str, kind: str, name: str, revision: str) -> str:
        with self._lock:
            oid = self._lookup(repo_id, revision).oid
            repo = self._repos[repo_id]
            if name in repo.branches or name in repo.tags:
                raise ValueError(f"Reference {name!r} already exists in {repo_id!r}")
            getattr(repo, kind)[name] = oid
            return oid

    def _new_commit(self, repo: _Repo, branch: str, files: Mapping[str, _Blob], message: str) -> str:
        self._commit_counter += 1
        parent = repo.branches.get(branch)
        listing = "".join(f"{path}\0{blob.git_oid}\n" for path, blob in sorted(files.items()))
        seed = f"{repo.repo_id}\n{parent}\n{message}\n{self._commit_counter}\n{listing}"
        oid = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits[oid] = _Commit(oid, parent, message, _now_iso(), MappingProxyType(dict(files)))
        repo.branches[branch] = oid
        for blob in files.values():
            if blob.lfs:
                self._lfs_objects.setdefault(blob.sha256, blob.data)
        return oid

    def _served(self, blob: _Blob) -> bytes:
        return self._tampered.get(blob.etag, blob.data)

    # ------------------------------------------------------------------ internals: HTTP routing

    def _dispatch(self, role: str, request: _Request) -> _Response:
        """Route one request (called from a handler thread); state is read and written under the lock."""
        with self._lock:
            if role == "cdn":
                return self._route_cdn(request)
            return self._route_hub(request)

    def _route_cdn(self, req: _Request) -> _Response:
        match req.method, req.segments:
            case (("GET" | "HEAD"), ["cdn", oid]) if oid in self._lfs_objects:
                data = self._tampered.get(oid, self._lfs_objects[oid])
                return _content(data, {"ETag": f'"{oid}"'}, req.headers.get("Range"))
            case "PUT", ["lfs-upload", oid] if _SHA256_RE.fullmatch(oid):
                if hashlib.sha256(req.body).hexdigest() != oid:
                    raise _HttpError(400, f"Uploaded content does not match sha256 {oid}")
                self._lfs_objects.setdefault(oid, req.body)
                return _Response(200, headers={"ETag": f'"{oid}"'})
        raise _HttpError(404, "Not Found")

    def _route_hub(self, req: _Request) -> _Response:
        segs = req.segments
        match req.method, segs:
            case "POST", ["api", "repos", "create"]:
                return self._api_create_repo(req)
            case "POST", ["api", "validate-yaml"]:
                return _json({"errors": [], "warnings": []})
            case _, ["api", "models", *rest] if rest:
                repo_id, action = _split_repo(rest, _API_ACTIONS, self._repos.__contains__)
                return self._route_model_api(req, self._repo(repo_id), action)
            case "POST", [*_, "info", "lfs", "objects", ("batch" | "verify") as op] if _git_repo(segs):
                repo = self._repo(_git_repo(segs) or "")
                return self._lfs_batch(req, repo) if op == "batch" else self._lfs_verify(req)
            case (("GET" | "HEAD"), [_, *_]) if "resolve" in segs[1:3]:
                repo_id, rest = _split_repo(segs, ("resolve",), self._repos.__contains__)
                if len(rest) < 3:
                    raise _HttpError(404, "Not Found")
                return self._resolve(req, self._repo(repo_id), rest[1], "/".join(rest[2:]))
        raise _HttpError(404, f"Not Found: {req.method} /{'/'.join(segs)}")

    def _route_model_api(self, req: _Request, repo: _Repo, action: list[str]) -> _Response:
        match req.method, action:
            case "GET", []:
                return self._model_info(req, repo, self._commit_of(repo, "main"))
            case "GET", ["revision", revision]:
                return self._model_info(req, repo, self._commit_of(repo, revision))
            case "GET", ["tree", revision, *path]:
                return self._tree(req, self._commit_of(repo, revision), "/".join(path))
            case "GET", ["refs"]:
                return self._refs(repo)
            case "POST", ["preupload", revision]:
                return self._preupload(req, self._commit_of(repo, revision))
            case "POST", ["commit", revision]:
                return self._api_commit(req, repo, revision)
            case "POST", ["branch", branch]:
                starting_point = req.json().get("startingPoint") or "main"
                return self._create_ref(repo, repo.branches, branch, starting_point)
            case "POST", ["tag", revision]:
                tag = req.json().get("tag")
                if not isinstance(tag, str) or not tag:
                    raise _HttpError(400, "Missing 'tag'")
                return self._create_ref(repo, repo.tags, tag, revision)
        raise _HttpError(404, f"Not Found: {req.method} /{'/'.join(req.segments)}")

    # ------------------------------------------------------------------ read endpoints

    def _resolve(self, req: _Request, repo: _Repo, revision: str, path: str) -> _Response:
        """``/{repo}/resolve/{revision}/{path}``: the file, or a 302 to the CDN for LFS files."""
        commit = self._commit_of(repo, revision)
        blob = commit.files.get(path)
        if blob is None:
            raise _HttpError(404, "Entry not found", error_code="EntryNotFound", headers={"X-Repo-Commit": commit.oid})
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{blob.etag}"'}
        if not blob.lfs:
            return _content(self._served(blob), headers, req.headers.get("Range"))
        location = f"{self.cdn_url}/cdn/{blob.sha256}"
        headers.update({"Location": location, "X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(blob.size)})
        return _Response(302, f"Found. Redirecting to {location}".encode(), headers, "text/plain; charset=utf-8")

    def _model_info(self, req: _Request, repo: _Repo, commit: _Commit) -> _Response:
        with_blobs = req.flag("blobs")
        siblings: list[dict[str, Any]] = []
        for path, blob in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if with_blobs:
                sibling.update(size=blob.size, blobId=blob.git_oid)
                if blob.lfs:
                    sibling["lfs"] = {"sha256": blob.sha256, "size": blob.size, "pointerSize": blob.pointer_size}
            siblings.append(sibling)
        author = repo.repo_id.split("/")[0] if "/" in repo.repo_id else None
        return _json(
            {
                "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "author": author,
                "sha": commit.oid,
                "lastModified": commit.date,
                "createdAt": repo.created_at,
                "private": False,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
                "spaces": [],
                "usedStorage": sum(blob.size for blob in commit.files.values()),
            }
        )

    def _tree(self, req: _Request, commit: _Commit, prefix: str) -> _Response:
        """``/api/models/{repo}/tree/{revision}[/{path}]``; everything in one page (no ``Link`` pagination)."""
        prefix = prefix.strip("/")
        base = f"{prefix}/" if prefix else ""
        recursive = req.flag("recursive")
        folders: dict[str, list[str]] = {}
        files: list[dict[str, Any]] = []
        for path, blob in sorted(commit.files.items()):
            if not path.startswith(base):
                continue
            parts = path[len(base) :].split("/")
            for depth in range(1, len(parts) if recursive else min(len(parts), 2)):
                folders.setdefault(base + "/".join(parts[:depth]), []).append(blob.git_oid)
            if recursive or len(parts) == 1:
                entry: dict[str, Any] = {"type": "file", "oid": blob.git_oid, "size": blob.size, "path": path}
                if blob.lfs:
                    entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": blob.pointer_size}
                files.append(entry)
        if prefix and not files and not folders:
            raise _HttpError(404, f"{prefix} does not exist", error_code="EntryNotFound")
        dirs = [
            {"type": "directory", "oid": hashlib.sha1("".join(oids).encode()).hexdigest(), "size": 0, "path": path}
            for path, oids in sorted(folders.items())
        ]
        return _json(dirs + files)

    def _refs(self, repo: _Repo) -> _Response:
        def refs(kind: str, items: dict[str, str]) -> list[dict[str, str]]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": oid} for n, oid in sorted(items.items())]

        return _json(
            {
                "branches": refs("heads", repo.branches),
                "tags": refs("tags", repo.tags),
                "converts": [],
                "pullRequests": [],
            }
        )

    # ------------------------------------------------------------------ write endpoints

    def _api_create_repo(self, req: _Request) -> _Response:
        payload = req.json()
        if payload.get("type") not in (None, "model"):
            raise _HttpError(400, "HubServer only hosts model repos")
        name, organization = payload.get("name"), payload.get("organization")
        repo_id = f"{organization}/{name}" if organization else str(name)
        if repo_id in self._repos:
            return _Response(
                409,
                _json_bytes({"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}),
                {"X-Error-Message": "You already created this model repo"},
            )
        try:
            self.create_repo(repo_id)
        except ValueError as e:
            raise _HttpError(400, str(e)) from e
        return _json({"url": f"{self.url}/{repo_id}", "name": repo_id, "id": self._repos[repo_id].created_at})

    def _create_ref(self, repo: _Repo, refs: dict[str, str], name: str, revision: str) -> _Response:
        if name in repo.branches or name in repo.tags:
            raise _HttpError(409, f"Reference {name} already exists")
        refs[name] = self._commit_of(repo, revision).oid
        return _json({})

    def _preupload(self, req: _Request, commit: _Commit) -> _Response:
        """Tell the client, per file, whether to upload it as a regular (inline) or LFS file."""
        files = req.json().get("files")
        if not isinstance(files, list):
            raise _HttpError(400, "Missing 'files'")
        answer: list[dict[str, Any]] = []
        for item in files:
            path, size = item["path"], int(item["size"])
            lfs = self.is_lfs(path, size)
            entry: dict[str, Any] = {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            existing = commit.files.get(path)
            if existing is not None:  # lets the client skip unchanged files (compared like CommitOperationAdd)
                entry["oid"] = existing.sha256 if lfs else existing.content_sha1
            answer.append(entry)
        return _json({"files": answer, "commitOid": commit.oid})

    def _lfs_batch(self, req: _Request, repo: _Repo) -> _Response:
        """Git LFS batch API, ``upload`` operation with the ``basic`` transfer: PUT to the CDN, then verify."""
        payload = req.json()
        if payload.get("operation") != "upload":
            raise _HttpError(422, "HubServer only supports the 'upload' LFS batch operation")
        objects: list[dict[str, Any]] = []
        for obj in payload.get("objects", []):
            oid, size = str(obj.get("oid")), int(obj.get("size", 0))
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not _SHA256_RE.fullmatch(oid):
                entry["error"] = {"code": 422, "message": f"Invalid sha256 oid {oid!r}"}
            elif oid not in self._lfs_objects:  # already stored objects get no "actions": nothing to upload
                verify_href = f"{self.url}/{repo.repo_id}.git/info/lfs/objects/verify"
                entry["actions"] = {
                    "upload": {"href": f"{self.cdn_url}/lfs-upload/{oid}"},
                    "verify": {"href": verify_href, "header": {}},
                }
            objects.append(entry)
        return _json({"transfer": "basic", "objects": objects}, content_type="application/vnd.git-lfs+json")

    def _lfs_verify(self, req: _Request) -> _Response:
        payload = req.json()
        data = self._lfs_objects.get(str(payload.get("oid")))
        if data is None or len(data) != payload.get("size"):
            raise _HttpError(404, "LFS object not found or size mismatch")
        return _json({"message": "ok"}, content_type="application/vnd.git-lfs+json")

    def _api_commit(self, req: _Request, repo: _Repo, branch: str) -> _Response:
        """NDJSON commit: a ``header`` line, then ``file``/``lfsFile``/``deletedFile``/``deletedFolder`` lines."""
        if req.flag("create_pr"):
            raise _HttpError(400, "HubServer does not support pull requests (create_pr)")
        if branch not in repo.branches:
            self._commit_of(repo, branch)  # 404 RevisionNotFound if it is no revision at all
            raise _HttpError(400, f"Can only commit on a branch, not on {branch!r}")
        head = repo.commits[repo.branches[branch]]
        snapshot = dict(head.files)
        summary = ""
        for line in req.body.splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, value = item["key"], item["value"]
            except (ValueError, KeyError, TypeError) as e:
                raise _HttpError(400, f"Malformed commit line: {line[:200]!r}") from e
            if key == "header":
                summary = str(value.get("summary") or "")
                parent = value.get("parentCommit")
                if parent is not None and not head.oid.startswith(parent):
                    raise _HttpError(412, "A commit has happened since. Please refresh and try again.")
            elif key == "file":
                path = _checked_http_path(value.get("path"))
                content = value.get("content", "")
                data = base64.b64decode(content) if value.get("encoding") == "base64" else str(content).encode()
                snapshot[path] = _Blob.make(data, lfs=False)
            elif key == "lfsFile":
                path = _checked_http_path(value.get("path"))
                data_or_none = self._lfs_objects.get(str(value.get("oid")))
                if data_or_none is None or value.get("size", len(data_or_none)) != len(data_or_none):
                    raise _HttpError(422, f"LFS object for {path!r} was not uploaded (oid {value.get('oid')})")
                snapshot[path] = _Blob.make(data_or_none, lfs=True)
            elif key == "deletedFile":
                if snapshot.pop(str(value.get("path")), None) is None:
                    raise _HttpError(404, "A file with this name doesn't exist", error_code="EntryNotFound")
            elif key == "deletedFolder":
                folder = str(value.get("path")).rstrip("/") + "/"
                doomed = [path for path in snapshot if path.startswith(folder)]
                if not doomed:
                    raise _HttpError(404, "A folder with this name doesn't exist", error_code="EntryNotFound")
                for path in doomed:
                    del snapshot[path]
            else:
                raise _HttpError(400, f"Unsupported commit operation {key!r}")
        oid = self._new_commit(repo, branch, snapshot, summary or "Commit")
        return _json(
            {
                "success": True,
                "commitOid": oid,
                "commitUrl": f"{self.url}/{repo.repo_id}/commit/{oid}",
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )


def _git_repo(segments: list[str]) -> str | None:
    """Repo id of an LFS URL ``/{repo}.git/info/lfs/...`` (repo ids have one or two segments)."""
    for index in (0, 1):
        if len(segments) > index + 1 and segments[index].endswith(".git") and segments[index + 1] == "info":
            return "/".join(segments[: index + 1])[: -len(".git")]
    return None


def _check_path(path: str) -> str:
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or path.endswith("/") or "\\" in path:
        raise ValueError(f"Invalid path in repo: {path!r}")
    return path


def _checked_http_path(path: object) -> str:
    try:
        return _check_path(str(path))
    except ValueError as e:
        raise _HttpError(400, str(e)) from e
