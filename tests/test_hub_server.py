"""The real huggingface_hub client against segzoo.testing.HubServer (fixtures from segzoo.testing.pytest_plugin)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from segzoo.testing.hub_server import HubServer
from segzoo.testing.pytest_plugin import HfEnv

REPO = "org/tiny-model"
CONFIG = '{"architecture": "tiny", "num_classes": 3}'
WEIGHTS = bytes(range(256)) * 64  # 16 KiB, *.safetensors => LFS


@pytest.fixture
def repo(hub_server: HubServer) -> str:
    """REPO with a small regular file and an LFS file on main; returns the commit id."""
    return hub_server.commit(REPO, {"config.json": CONFIG, "model.safetensors": WEIGHTS}, message="v1")


def _gets(server: HubServer) -> list[str]:
    return [path for method, path in server.requests if method == "GET"]


def _is_connection_error(error: BaseException | None) -> bool:
    """huggingface_hub surfaces the transport's ConnectError, possibly wrapped: look through the cause chain."""
    for _ in range(10):
        if error is None:
            return False
        if isinstance(error, ConnectionError) or type(error).__name__ == "ConnectError":
            return True
        error = error.__cause__ or error.__context__
    return False


def test_first_download_lands_in_the_cache_layout(hub_server: HubServer, hf_env: HfEnv, repo: str) -> None:
    config = Path(hf_hub_download(REPO, "config.json"))
    weights = Path(hf_hub_download(REPO, "model.safetensors"))

    assert config.read_text() == CONFIG and weights.read_bytes() == WEIGHTS
    storage = hf_env.cache_dir / "models--org--tiny-model"
    assert (storage / "refs" / "main").read_text() == repo
    assert config == storage / "snapshots" / repo / "config.json"
    assert config.is_symlink() and weights.is_symlink()
    # blobs are named by ETag: git sha1 for regular files, sha256 for LFS files
    git_sha1 = hashlib.sha1(b"blob %d\0%s" % (len(CONFIG), CONFIG.encode())).hexdigest()
    assert config.resolve() == storage / "blobs" / git_sha1
    assert weights.resolve() == storage / "blobs" / hashlib.sha256(WEIGHTS).hexdigest()
    # the LFS file was redirected to the CDN origin, like on the real Hub
    assert f"/cdn/{hashlib.sha256(WEIGHTS).hexdigest()}" in _gets(hub_server)
    assert hub_server.errors == []


def test_cache_hit_downloads_nothing(hub_server: HubServer, repo: str) -> None:
    first = hf_hub_download(REPO, "model.safetensors")
    hub_server.clear_requests()

    assert hf_hub_download(REPO, "model.safetensors") == first  # branch: one HEAD to check the ETag, no GET
    assert _gets(hub_server) == []
    assert ("HEAD", f"/{REPO}/resolve/main/model.safetensors") in hub_server.requests

    hub_server.clear_requests()
    assert hf_hub_download(REPO, "model.safetensors", revision=repo) == first  # commit id: not even a HEAD
    assert hub_server.requests == []


def test_revisions_commit_ids_tags_and_branches(hub_server: HubServer, repo: str) -> None:
    second = hub_server.commit(REPO, {"config.json": '{"v": 2}'}, message="v2")
    assert second != repo and len(second) == 40

    assert Path(hf_hub_download(REPO, "config.json")).read_text() == '{"v": 2}'
    assert Path(hf_hub_download(REPO, "config.json", revision=repo)).read_text() == CONFIG
    assert Path(hf_hub_download(REPO, "config.json", revision=repo[:7])).read_text() == CONFIG

    hub_server.create_tag(REPO, "v1.0", revision=repo)
    assert Path(hf_hub_download(REPO, "config.json", revision="v1.0")).read_text() == CONFIG

    api = HfApi()
    api.create_tag(REPO, tag="v2.0")  # over HTTP, on main
    api.create_branch(REPO, branch="dev", revision=repo)
    assert api.model_info(REPO, revision="v2.0").sha == second
    assert api.model_info(REPO, revision="dev").sha == repo
    refs = api.list_repo_refs(REPO)
    assert {t.name: t.target_commit for t in refs.tags} == {"v1.0": repo, "v2.0": second}
    assert {b.name for b in refs.branches} == {"main", "dev"}


def test_missing_repo_revision_and_file_raise_hub_errors(hub_server: HubServer, repo: str) -> None:
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("org/nope", "config.json")
    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info("org/nope")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, "config.json", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        HfApi().model_info(REPO, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO, "missing.json")


def test_server_down_then_offline_mode_serves_the_cache(hub_server: HubServer, hf_env: HfEnv, repo: str) -> None:
    cached = hf_hub_download(REPO, "config.json")

    with hub_server.down():
        with pytest.raises(LocalEntryNotFoundError) as not_cached:
            hf_hub_download(REPO, "model.safetensors")
        assert _is_connection_error(not_cached.value)
        with pytest.raises(Exception) as api_error:
            HfApi().model_info(REPO)
        assert _is_connection_error(api_error.value)
        assert hf_hub_download(REPO, "config.json") == cached  # unreachable Hub: falls back to the cache

    hub_server.clear_requests()
    with hf_env.offline():
        assert huggingface_hub.constants.is_offline_mode()
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        assert hf_hub_download(REPO, "config.json") == cached
        with pytest.raises(LocalEntryNotFoundError):
            hf_hub_download(REPO, "model.safetensors")
    assert hub_server.requests == []  # offline: not a single request although the server is up
    assert not huggingface_hub.constants.is_offline_mode()


def _get(url: str, range_header: str) -> tuple[int, bytes, str | None]:
    request = urllib.request.Request(url, headers={"Range": range_header})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Range")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Range")


def test_range_requests(hub_server: HubServer, repo: str) -> None:
    regular = f"{hub_server.url}/{REPO}/resolve/main/config.json"
    assert _get(regular, "bytes=2-5") == (206, CONFIG.encode()[2:6], f"bytes 2-5/{len(CONFIG)}")
    assert _get(regular, "bytes=-3")[:2] == (206, CONFIG.encode()[-3:])
    assert _get(regular, f"bytes={len(CONFIG)}-") == (
        416,
        json.dumps({"error": "Range Not Satisfiable"}).encode(),
        f"bytes */{len(CONFIG)}",
    )
    lfs = f"{hub_server.url}/{REPO}/resolve/{repo}/model.safetensors"  # 302 to the CDN, Range kept
    assert _get(lfs, "bytes=1000-") == (206, WEIGHTS[1000:], f"bytes 1000-{len(WEIGHTS) - 1}/{len(WEIGHTS)}")


def test_tamper_changes_served_bytes_not_advertised_hashes(hub_server: HubServer, repo: str) -> None:
    hub_server.tamper(REPO, "model.safetensors")
    metadata = get_hf_file_metadata(hf_hub_url(REPO, "model.safetensors"))
    assert metadata.etag == hashlib.sha256(WEIGHTS).hexdigest() and metadata.size == len(WEIGHTS)

    downloaded = Path(hf_hub_download(REPO, "model.safetensors")).read_bytes()  # the client does not notice...
    assert len(downloaded) == len(WEIGHTS)
    assert hashlib.sha256(downloaded).hexdigest() != metadata.etag  # ...but a checksum-verifying loader would
    assert hub_server.read(REPO, "model.safetensors") == WEIGHTS


def test_create_repo_and_upload_folder_round_trip(hub_server: HubServer, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    files = {
        "config.json": b'{"num_classes": 2}',  # regular
        "model.safetensors": b"\x00tiny weights",  # LFS by suffix
        "big.txt": b"x" * 20_000,  # LFS by size
        "sub/notes.md": b"hello",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)

    api = HfApi(token="any-token-is-accepted")
    url = api.create_repo("alice/uploaded")
    assert url.repo_id == "alice/uploaded"
    api.create_repo("alice/uploaded", exist_ok=True)  # 409 => fine
    info = api.upload_folder(repo_id="alice/uploaded", folder_path=folder, commit_message="export")

    assert info.oid == hub_server.resolve("alice/uploaded")
    assert hub_server.list_files("alice/uploaded") == sorted([".gitattributes", *files])
    uploads = [path for method, path in hub_server.requests if method == "PUT"]
    assert sorted(uploads) == sorted(
        f"/lfs-upload/{hashlib.sha256(files[n]).hexdigest()}" for n in ("model.safetensors", "big.txt")
    )
    for name, data in files.items():
        assert hub_server.read("alice/uploaded", name) == data
        assert Path(hf_hub_download("alice/uploaded", name)).read_bytes() == data

    # module-level helpers go through huggingface_hub.hf_api.api, which the fixture re-pointed too
    huggingface_hub.upload_file(path_or_fileobj=b"v2", path_in_repo="config.json", repo_id="alice/uploaded")
    assert hub_server.read("alice/uploaded", "config.json") == b"v2"
    assert hub_server.errors == []


def test_snapshot_download(hub_server: HubServer, repo: str) -> None:
    hub_server.commit(REPO, {"nested/extra.txt": "extra"})
    head = hub_server.resolve(REPO)

    folder = Path(snapshot_download(REPO))

    assert folder.name == head
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        ".gitattributes",
        "config.json",
        "model.safetensors",
        "nested/extra.txt",
    ]
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert Path(snapshot_download(REPO, revision=repo, allow_patterns=["*.json"])).name == repo


def test_subprocesses_inherit_the_sandbox(hub_server: HubServer, hf_env: HfEnv, repo: str) -> None:
    code = "from huggingface_hub import hf_hub_download; print(hf_hub_download('org/tiny-model', 'config.json'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.read_text() == CONFIG
    assert hf_env.cache_dir in path.parents


def _first_line(proc: subprocess.Popen, timeout: float = 30.0) -> str:
    """The server's first stdout line, waiting at most ``timeout`` seconds."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            proc.kill()
            raise AssertionError(f"no output from the server within {timeout} s")
    return proc.stdout.readline().strip()


def test_serve_command_outside_pytest(tmp_path: Path, hf_env: HfEnv) -> None:
    repo = tmp_path / "hub" / "org" / "tiny-model"
    (repo / "sub").mkdir(parents=True)
    (repo / "config.json").write_text(CONFIG)
    (repo / "sub" / "model.safetensors").write_bytes(WEIGHTS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "segzoo.testing.hub", "serve", str(tmp_path / "hub")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _first_line(proc)
        assert line.startswith("HF_ENDPOINT=http://127.0.0.1:"), line + proc.stderr.read()
        assert proc.stdout.readline().startswith("serving 1 repositories: org/tiny-model")
        hf_env.use_endpoint(line.removeprefix("HF_ENDPOINT="))
        assert Path(hf_hub_download("org/tiny-model", "sub/model.safetensors")).read_bytes() == WEIGHTS
        assert HfApi().model_info("org/tiny-model").sha is not None
    finally:
        proc.terminate()  # SIGTERM: a clean stop
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, out + err


def test_serve_command_refuses_a_missing_folder(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "segzoo.testing.hub", "serve", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "is not a folder" in result.stderr
