"""``python -m segzoo.testing.hub serve [DIR] [--port N]``: the test Hub (:class:`HubServer`) outside pytest.

Why: to try a plugin's catalog entry, ``segzoo publish`` or ``segzoo download`` by hand without the internet, point
the real ``huggingface_hub`` client at a local server, exactly as the ``hub_server`` fixture does in tests::

    python -m segzoo.testing.hub serve hub-files/ --port 8765 &
    export HF_ENDPOINT=http://127.0.0.1:8765 HF_HUB_DISABLE_XET=1
    segzoo download my-model-name

``DIR`` holds one folder per repository, ``DIR/<org>/<name>/`` (or ``DIR/<name>/``); each folder's files (sub-folders
included) are committed to ``main`` at start. Uploads while the server runs are kept in memory and lost when it
stops. The server listens on 127.0.0.1 only and stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from segzoo.testing.hub_server import HubServer

__all__ = ["load_folder", "main", "sandbox"]


@contextlib.contextmanager
def sandbox() -> Iterator[HubServer]:
    """A started :class:`HubServer` that this process's ``huggingface_hub`` client (and subprocesses started inside
    the block) talk to, with a throwaway cache and no token; everything is restored afterwards.

    The ``hub_server`` pytest fixture without pytest's fixtures, e.g. for :func:`segzoo.testing.check_plugin`.
    Raises ``AssertionError`` if the server had an internal error.
    """
    import pytest

    from segzoo.testing.pytest_plugin import HfEnv

    with tempfile.TemporaryDirectory(prefix="segzoo-hub-") as tmp, pytest.MonkeyPatch.context() as patch:
        with HubServer() as server:
            HfEnv.create(patch, Path(tmp) / "hf_home").use_endpoint(server.url)
            yield server
    if server.errors:
        raise AssertionError("HubServer internal error(s):\n" + "\n".join(server.errors))


def _repo_folders(root: Path) -> list[tuple[str, Path]]:
    """``(repo_id, folder)`` for every repository folder under ``root``: a top folder holding files is a repo
    without an organisation; otherwise each of its sub-folders is ``<org>/<name>``."""
    repos = []
    for top in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if any(p.is_file() for p in top.iterdir()):
            repos.append((top.name, top))
        else:
            repos += [(f"{top.name}/{sub.name}", sub) for sub in sorted(top.iterdir()) if sub.is_dir()]
    return repos


def load_folder(server: HubServer, root: str | Path) -> list[str]:
    """Commit every repository folder under ``root`` to ``main`` on ``server``; returns the repo ids."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder; give one with a sub-folder per repository (<org>/<name>/)")
    loaded = []
    for repo_id, folder in _repo_folders(root):
        files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
        server.commit(repo_id, files, message=f"files from {folder}")
        loaded.append(repo_id)
    return loaded


def _serve(root: str | None, port: int, stop: threading.Event) -> int:
    server = HubServer(port=port)
    try:
        server.start()
    except OSError as err:
        print(f"segzoo.testing.hub: error: cannot listen on 127.0.0.1:{port}: {err.strerror or err}", file=sys.stderr)
        return 1
    try:
        repos = load_folder(server, root) if root else []
    except (OSError, ValueError) as err:
        server.stop()
        print(f"segzoo.testing.hub: error: {err}", file=sys.stderr)
        return 1
    print(f"HF_ENDPOINT={server.url}", flush=True)  # first line: what a script waiting for the server reads
    print(
        f"serving {len(repos)} repositories{': ' + ', '.join(repos) if repos else ''}; in another shell:\n"
        f"  export HF_ENDPOINT={server.url} HF_HUB_DISABLE_XET=1\n"
        "stop with Ctrl-C",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m segzoo.testing.hub", description="A local Hugging Face Hub-compatible server for trying segzoo."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve repositories from a folder on 127.0.0.1 until stopped")
    serve.add_argument("dir", nargs="?", help="folder with one sub-folder per repository: <org>/<name>/files")
    serve.add_argument("--port", type=int, default=0, help="port of the Hub endpoint (default: a free one)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number (0-65535; 0 picks a free one)")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return _serve(args.dir, args.port, stop)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
