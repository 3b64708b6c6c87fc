"""Weights end to end: the real huggingface_hub client against a Hub-compatible server on 127.0.0.1."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

import segzoo
from segzoo import _plugins
from segzoo.errors import WeightsError, WeightsIntegrityError, WeightsNotCachedError
from segzoo.hub import download

REPO = "segzoo-test/tiny-demo"


def tiny_weights(seed: int) -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
    torch.manual_seed(seed)
    model = segzoo.create("tiny", num_classes=3).eval()
    return {k: v.contiguous() for k, v in model.state_dict().items()}, model


def catalog_entry(name: str, weights: dict) -> dict:
    return {
        "name": name,
        "architecture": "tiny",
        "encoder": "resnet18",
        "requires": "segzoo-test-tiny",
        "num_classes": 3,
        "class_names": ["a", "b", "c"],
        "preprocessing": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
        "dataset": {"train": "synthetic", "eval": "synthetic"},
        "metrics": {"values": {}, "source": "n/a"},
        "license": "MIT",
        "paper": {"title": "test", "url": "https://example.org"},
        "weights": weights,
    }


def use_catalog(tmp_path: Path, monkeypatch, *entries: dict) -> None:
    path = tmp_path / f"catalog-{len(list(tmp_path.glob('catalog-*')))}.json"
    path.write_text(json.dumps({"schema_version": 1, "models": list(entries)}))
    monkeypatch.setenv("SEGZOO_REGISTRY", str(path))
    _plugins.reset()
    _plugins.registries().add_plugin(__import__("tiny_plugin"), name="tiny", package="segzoo-test-tiny")


@pytest.fixture
def served(hub_server, tmp_path, monkeypatch, tiny):
    """A repo with two commits of different weights; catalog entries pinned to the first commit and to main."""
    state1, model1 = tiny_weights(1)
    state2, model2 = tiny_weights(2)
    blob1, blob2 = save(state1), save(state2)
    hub_server.create_repo(REPO)
    first = hub_server.commit(REPO, {"model.safetensors": blob1})
    second = hub_server.commit(REPO, {"model.safetensors": blob2})
    pinned = catalog_entry(
        "tiny-pinned",
        {
            "format": "segzoo",
            "sha256": hashlib.sha256(blob1).hexdigest(),
            "hub": {"repo_id": REPO, "filename": "model.safetensors", "revision": first},
        },
    )
    latest = catalog_entry(
        "tiny-latest",
        {
            "format": "segzoo",
            "sha256": hashlib.sha256(blob2).hexdigest(),
            "hub": {"repo_id": REPO, "filename": "model.safetensors", "revision": "main"},
        },
    )
    use_catalog(tmp_path, monkeypatch, pinned, latest)
    return {"models": (model1, model2), "commits": (first, second)}


def same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


def weight_downloads(hub_server) -> int:
    return sum(
        1
        for r in hub_server.requests
        if r.method == "GET" and "model.safetensors" in r.path or r.method == "GET" and "/cdn/" in r.path
    )


def test_first_download_verifies_caches_and_loads(served, hub_server, hf_env):
    model = segzoo.load("tiny-pinned")
    assert same_outputs(model, served["models"][0])
    assert model.config["name"] == "tiny-pinned" and model.config["class_names"] == ["a", "b", "c"]
    blobs = list((hf_env.cache_dir / "models--segzoo-test--tiny-demo" / "blobs").iterdir())
    assert len(blobs) == 1 and blobs[0].name == hashlib.sha256(blobs[0].read_bytes()).hexdigest()


def test_cache_hit_downloads_nothing(served, hub_server):
    segzoo.load("tiny-pinned")
    before = weight_downloads(hub_server)
    hub_server.clear_requests()
    model = segzoo.load("tiny-pinned")
    assert before >= 1 and weight_downloads(hub_server) == 0
    assert same_outputs(model, served["models"][0])


def test_revision_pinning(served):
    assert same_outputs(segzoo.load("tiny-pinned"), served["models"][0])
    assert same_outputs(segzoo.load("tiny-latest"), served["models"][1])


def test_tampered_file_is_refused_deleted_and_cache_stays_consistent(served, hub_server, hf_env):
    hub_server.tamper(REPO, "model.safetensors", revision=served["commits"][0])
    with pytest.raises(WeightsIntegrityError, match="corrupted or tampered"):
        segzoo.load("tiny-pinned")
    repo_cache = hf_env.cache_dir / "models--segzoo-test--tiny-demo"
    assert not any((repo_cache / "blobs").glob("*")), "the poisoned blob must be deleted"
    assert not [p for p in (repo_cache / "snapshots").rglob("*") if p.is_symlink()], "no dangling snapshot link"
    # the other revision is unaffected and still loads
    assert same_outputs(segzoo.load("tiny-latest"), served["models"][1])


def test_missing_repo_and_missing_file_are_one_line_errors(hub_server, tmp_path, monkeypatch, tiny):
    hub_server.create_repo("segzoo-test/empty")
    hub_server.commit("segzoo-test/empty", {"README.md": b"nothing here"})
    no_repo = catalog_entry(
        "no-repo",
        {
            "format": "segzoo",
            "sha256": None,
            "hub": {"repo_id": "segzoo-test/absent", "filename": "model.safetensors", "revision": "main"},
        },
    )
    no_file = catalog_entry(
        "no-file",
        {
            "format": "segzoo",
            "sha256": None,
            "hub": {"repo_id": "segzoo-test/empty", "filename": "model.safetensors", "revision": "main"},
        },
    )
    use_catalog(tmp_path, monkeypatch, no_repo, no_file)
    with pytest.raises(WeightsError, match=r"repository 'segzoo-test/absent' not found .*\(404\)") as err:
        segzoo.load("no-repo")
    assert "\n" not in str(err.value)
    with pytest.raises(WeightsError, match=r"file 'model.safetensors' not found in segzoo-test/empty@main"):
        segzoo.load("no-file")


def test_server_down_then_offline_mode(served, hub_server, hf_env):
    with hub_server.down():
        with pytest.raises(WeightsError, match="cannot reach .* not cached"):
            segzoo.load("tiny-pinned")
    segzoo.load("tiny-pinned")  # fills the cache
    with hub_server.down(), hf_env.offline():
        assert same_outputs(segzoo.load("tiny-pinned"), served["models"][0])
        with pytest.raises(WeightsNotCachedError, match="not in the local cache and HF_HUB_OFFLINE=1"):
            segzoo.load("tiny-latest")


def test_save_pretrained_push_and_load_from_hub_round_trip(hub_server, tmp_path, tiny):
    torch.manual_seed(3)
    model = segzoo.create("tiny", num_classes=4, in_channels=1).eval()
    segzoo.push_to_hub(model, "someone/my-tiny")
    loaded = segzoo.load("hf-hub:someone/my-tiny")
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert loaded.config["in_channels"] == 1 and loaded.config["num_classes"] == 4
    # a later push does not change what a pinned revision gives
    commit = hub_server.resolve("someone/my-tiny")
    segzoo.push_to_hub(segzoo.create("tiny", num_classes=4, in_channels=1), "someone/my-tiny")
    pinned = segzoo.load(f"hf-hub:someone/my-tiny@{commit}")
    with torch.no_grad():
        assert torch.equal(model(x), pinned(x))
    saved = model.save_pretrained(tmp_path / "local")
    assert sorted(p.name for p in saved.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    with torch.no_grad():
        assert torch.equal(model(x), segzoo.load(saved)(x))
    assert "library_name: segzoo" in (saved / "README.md").read_text()


def test_num_classes_reheads_and_says_so(served, caplog):
    with caplog.at_level(logging.WARNING, logger="segzoo"):
        model = segzoo.load("tiny-pinned", num_classes=7)
    assert model.num_classes == 7 and "re-headed tiny-pinned from 3 to 7 classes" in caplog.text
    reference = served["models"][0].state_dict()
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    assert all(torch.equal(v, reference[k]) for k, v in kept.items())


def test_pretrained_false_downloads_nothing(served, hub_server):
    hub_server.clear_requests()
    model = segzoo.load("tiny-pinned", pretrained=False)
    assert model.num_classes == 3 and hub_server.requests == []


# -- URL sources (upstream download servers such as torchvision's) ----------------------------------------------------
class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - stdlib name
        self.hits.append(self.path)
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server():
    handler = type("Handler", (_Files,), {"files": {}, "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def pth_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_url_source_is_verified_converted_once_and_cached(file_server, hf_env, tmp_path, monkeypatch, tiny):
    handler, base = file_server
    state, reference = tiny_weights(5)
    blob = pth_bytes(state)
    handler.files["/models/tiny-5.pth"] = blob
    sha = hashlib.sha256(blob).hexdigest()
    entry = catalog_entry("tiny-url", {"format": "segzoo", "url": f"{base}/models/tiny-5.pth", "sha256": sha[:8]})
    use_catalog(tmp_path, monkeypatch, entry)
    assert same_outputs(segzoo.load("tiny-url"), reference)
    converted = download.cache_dir() / "converted" / f"tiny-url-{sha[:16]}.safetensors"
    assert converted.is_file() and not list(download.cache_dir().rglob(".download-*"))
    handler.hits.clear()
    assert same_outputs(segzoo.load("tiny-url"), reference) and handler.hits == []


def test_url_source_with_wrong_hash_leaves_nothing(file_server, hf_env, tmp_path, monkeypatch, tiny):
    handler, base = file_server
    handler.files["/w.pth"] = pth_bytes(tiny_weights(6)[0])
    use_catalog(
        tmp_path,
        monkeypatch,
        catalog_entry("tiny-bad", {"format": "segzoo", "url": f"{base}/w.pth", "sha256": "0" * 64}),
    )
    with pytest.raises(WeightsIntegrityError):
        segzoo.load("tiny-bad")
    assert not any(download.cache_dir().rglob("*.safetensors")) and not any(download.cache_dir().rglob(".download-*"))


def test_pickled_objects_are_never_unpickled(file_server, hf_env, tmp_path, monkeypatch, tiny):
    handler, base = file_server
    blob = pth_bytes({"weights": torch.zeros(1), "payload": argparse.Namespace(code="anything")})
    handler.files["/evil.pth"] = blob
    use_catalog(
        tmp_path,
        monkeypatch,
        catalog_entry(
            "tiny-evil", {"format": "segzoo", "url": f"{base}/evil.pth", "sha256": hashlib.sha256(blob).hexdigest()}
        ),
    )
    with pytest.raises(WeightsError, match="refused to unpickle objects"):
        segzoo.load("tiny-evil")


def test_plain_http_is_refused_outside_loopback(hf_env, tmp_path, monkeypatch, tiny):
    use_catalog(
        tmp_path,
        monkeypatch,
        catalog_entry("tiny-http", {"format": "segzoo", "url": "http://example.org/w.pth", "sha256": "0" * 8}),
    )
    with pytest.raises(WeightsError, match="refusing to download weights over http"):
        segzoo.load("tiny-http")


# -- CLI ---------------------------------------------------------------------------------------------------------------
def test_cli_download_and_errors(served, hub_server, hf_env):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    # the subprocess discovers the test architecture through a SEGZOO_REGISTRY entry + an injected plugin
    code = (
        "import sys, tiny_plugin; from segzoo import _plugins, cli; "
        "_plugins.registries().add_plugin(tiny_plugin, name='tiny', package='segzoo-test-tiny'); "
        "sys.exit(cli.main(sys.argv[1:]))"
    )

    def run(*a):
        return subprocess.run([sys.executable, "-c", code, *a], capture_output=True, text=True, env=env, timeout=120)

    ok = run("download", "tiny-pinned")
    assert ok.returncode == 0 and "tiny-pinned: downloaded, verified and cached" in ok.stdout, ok.stderr
    model = served["models"][0]
    params = sum(p.numel() for p in model.parameters())
    assert params < sum(t.numel() for t in model.state_dict().values())  # BatchNorm statistics are not parameters
    assert f"({params:,} parameters)" in ok.stdout
    listed = json.loads(run("list", "tiny-*", "--json").stdout)
    assert [e["name"] for e in listed] == ["tiny-latest", "tiny-pinned"]
    missing = run("download", "tiny-pinnd")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "segzoo: error: unknown model 'tiny-pinnd'; did you mean 'tiny-pinned'?"
    offline = subprocess.run(
        [sys.executable, "-c", code, "download", "tiny-latest"],
        capture_output=True,
        text=True,
        env={**env, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert offline.returncode == 1 and len(offline.stderr.strip().splitlines()) == 1
    assert "not in the local cache" in offline.stderr


def test_reading_safetensors_holds_exact_tensors_and_rejects_truncation(tmp_path):
    from segzoo.hub.loading import _read_safetensors

    state = {
        "w": torch.randn(3, 4),
        "h": torch.randn(5).half(),
        "b": torch.randn(2).bfloat16(),
        "n": torch.tensor(7),
        "e": torch.zeros(0, 2),
        "m": torch.tensor([True, False]),
    }
    path = tmp_path / "x.safetensors"
    path.write_bytes(save(state))
    loaded = _read_safetensors(path)
    assert all(torch.equal(state[k], loaded[k]) and state[k].dtype == loaded[k].dtype for k in state)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        _read_safetensors(path)


def test_publish_gives_a_pinned_catalog_entry_that_loads(hub_server, hf_env, tmp_path, monkeypatch, tiny):
    from segzoo.hub.serialization import publish_directory

    torch.manual_seed(7)
    model = segzoo.create("tiny", num_classes=3).eval()
    result = publish_directory(model.save_pretrained(tmp_path / "dir"), "segzoo/tiny-published")
    assert result["revision"] == hub_server.resolve("segzoo/tiny-published")
    use_catalog(tmp_path, monkeypatch, catalog_entry("tiny-published", result["weights"]))
    assert same_outputs(segzoo.load("tiny-published"), model)
