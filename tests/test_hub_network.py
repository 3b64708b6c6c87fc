"""The network policy with loopback sockets: a port nobody listens on and a server that never answers fail fast,
with one line, for catalog weights and for an encoder's ImageNet weights (timm's, from the Hub); ``segzoo publish``
works on an endpoint without Xet storage."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_weights import catalog_entry, use_catalog

import segzoo
from segzoo.errors import WeightsError, WeightsNotCachedError
from segzoo.hub import download
from segzoo.nn import create_encoder


@contextlib.contextmanager
def closed_port():
    """A loopback port with nothing listening (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def black_hole():
    """A loopback server that accepts connections (the kernel completes the handshake) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()


def timed_failure(fn) -> tuple[float, str]:
    start = time.monotonic()
    with pytest.raises(WeightsError) as err:
        fn()
    return time.monotonic() - start, str(err.value)


@pytest.fixture
def unpinned_entry(hf_env, tmp_path, monkeypatch, tiny):
    use_catalog(
        tmp_path,
        monkeypatch,
        catalog_entry(
            "tiny-far",
            {
                "format": "segzoo",
                "sha256": None,
                "hub": {"repo_id": "segzoo-test/far", "filename": "model.safetensors", "revision": "main"},
            },
        ),
    )


def test_unreachable_hub_fails_in_about_a_second_with_one_line(hf_env, unpinned_entry, caplog):
    with closed_port() as url:
        hf_env.use_endpoint(url)
        seconds, message = timed_failure(lambda: segzoo.load("tiny-far"))
    assert seconds < 5, f"took {seconds:.1f} s"  # one retry after 1 s (SEGZOO_HUB_RETRIES=1, SEGZOO_HUB_RETRY_WAIT=1)
    assert f"cannot reach {url}" in message and "2 attempt(s)" in message and "\n" not in message
    assert "Retrying in" not in caplog.text, "huggingface_hub's own backoff loop must not run"


def test_black_hole_hub_is_bounded_by_the_metadata_timeout(hf_env, unpinned_entry, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", 1)  # what HF_HUB_ETAG_TIMEOUT=1 sets at import
    with black_hole() as url:
        hf_env.use_endpoint(url)
        seconds, message = timed_failure(lambda: segzoo.load("tiny-far"))
    assert seconds < 6, f"took {seconds:.1f} s"  # no retries after a timeout
    assert "did not answer within 1 s (HF_HUB_ETAG_TIMEOUT)" in message and "\n" not in message


def test_black_hole_url_source_is_bounded_by_the_download_timeout(hf_env, tmp_path, monkeypatch, tiny):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 1)
    with black_hole() as url:
        use_catalog(
            tmp_path,
            monkeypatch,
            catalog_entry("tiny-silent", {"format": "segzoo", "url": f"{url}/w-12345678.pth", "sha256": "12345678"}),
        )
        seconds, message = timed_failure(lambda: segzoo.load("tiny-silent"))
    assert seconds < 6, f"took {seconds:.1f} s"
    assert "sent no data for 1 s (HF_HUB_DOWNLOAD_TIMEOUT)" in message and "\n" not in message
    assert not list(download.cache_dir().rglob(".download-*"))


def test_retry_settings_are_validated(monkeypatch):
    from segzoo import _network as network

    monkeypatch.setenv("SEGZOO_HUB_RETRIES", "many")
    with pytest.raises(WeightsError, match="SEGZOO_HUB_RETRIES='many' is not a number"):
        network.retries()
    monkeypatch.setenv("SEGZOO_HUB_RETRIES", "0")
    assert network.retries() == 0


def test_cached_pinned_file_needs_no_network(hub_server, hf_env, tmp_path, monkeypatch, tiny):
    from safetensors.torch import save

    torch.manual_seed(4)
    model = segzoo.create("tiny", num_classes=3).eval()
    blob = save({k: v.contiguous() for k, v in model.state_dict().items()})
    hub_server.create_repo("segzoo-test/near")
    commit = hub_server.commit("segzoo-test/near", {"model.safetensors": blob})
    import hashlib

    use_catalog(
        tmp_path,
        monkeypatch,
        catalog_entry(
            "tiny-near",
            {
                "format": "segzoo",
                "sha256": hashlib.sha256(blob).hexdigest(),
                "hub": {"repo_id": "segzoo-test/near", "filename": "model.safetensors", "revision": commit},
            },
        ),
    )
    segzoo.load("tiny-near")
    with black_hole() as url:  # the Hub now never answers: a pinned, cached entry does not ask it
        hf_env.use_endpoint(url)
        start = time.monotonic()
        segzoo.load("tiny-near")
    assert time.monotonic() - start < 5


# -- an encoder's ImageNet weights: timm downloads them from the Hub through huggingface_hub -------------------------
#: timm's smallest ResNet (0.4M parameters) and the Hub file it loads its ImageNet weights from
TIMM_ENCODER, TIMM_REPO, TIMM_FILE = "test_resnet", "timm/test_resnet.r160_in1k", "model.safetensors"


def test_pretrained_encoder_on_unreachable_hub_fails_fast_naming_the_file(hf_env, caplog):
    with closed_port() as url:
        hf_env.use_endpoint(url)
        seconds, message = timed_failure(
            lambda: segzoo.create("unet", encoder=TIMM_ENCODER, num_classes=3, pretrained_encoder=True)
        )
    assert seconds < 5, f"took {seconds:.1f} s"  # as catalog weights: one retry after 1 s
    assert message.startswith(f"ImageNet weights of encoder {TIMM_ENCODER!r}: cannot reach {url} "), message
    assert f"to download {TIMM_REPO}/{TIMM_FILE} and it is not cached" in message
    assert f"`hf download {TIMM_REPO} {TIMM_FILE}`" in message and "pretrained_encoder=False" in message
    assert "\n" not in message
    assert "Retrying in" not in caplog.text, "huggingface_hub's own backoff loop must not run"


def test_pretrained_encoder_offline_without_cache_says_so(hf_env):
    with hf_env.offline(), pytest.raises(WeightsNotCachedError) as err:
        create_encoder(TIMM_ENCODER, pretrained=True)
    message = str(err.value)
    assert message.startswith(f"ImageNet weights of encoder {TIMM_ENCODER!r}: {TIMM_REPO}/{TIMM_FILE} is not in ")
    assert f"({hf_env.cache_dir}) and HF_HUB_OFFLINE=1 forbids downloading it" in message
    assert f"`hf download {TIMM_REPO} {TIMM_FILE}`" in message and "pretrained_encoder=False" in message
    assert "\n" not in message


def test_served_encoder_weights_load_then_come_from_the_cache(hub_server, hf_env):
    import timm
    from safetensors.torch import save

    torch.manual_seed(6)
    state = timm.create_model(TIMM_ENCODER).state_dict()  # what timm would publish: the classifier's keys
    hub_server.create_repo(TIMM_REPO)
    hub_server.commit(TIMM_REPO, {TIMM_FILE: save({k: v.contiguous() for k, v in state.items()})})

    def loads_the_served_weights() -> None:
        encoder = create_encoder(TIMM_ENCODER, pretrained=True)
        loaded = encoder.body.state_dict()
        assert loaded and all(torch.equal(v, state[k]) for k, v in loaded.items() if k in state)
        assert len(set(loaded) & set(state)) > 10

    with hub_server.down():  # not cached yet: the Hub is needed, and its outage is one line at once
        seconds, message = timed_failure(lambda: create_encoder(TIMM_ENCODER, pretrained=True))
    assert seconds < 5 and f"cannot reach {hub_server.url}" in message and TIMM_REPO in message
    loads_the_served_weights()  # downloaded through huggingface_hub from the (local) Hub
    with hub_server.down():  # cached: the outage does not matter
        start = time.monotonic()
        loads_the_served_weights()
        assert time.monotonic() - start < 5
    with hf_env.offline():
        loads_the_served_weights()


@pytest.mark.slow
def test_publish_without_disabling_xet(hub_server, hf_env, tmp_path, tiny):
    pytest.importorskip("hf_xet")
    torch.manual_seed(5)
    folder = segzoo.create("tiny", num_classes=3).save_pretrained(tmp_path / "m")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_XET"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    code = (
        "import sys, tiny_plugin; from segzoo import _plugins, cli; "
        "_plugins.registries().add_plugin(tiny_plugin, name='tiny', package='segzoo-test-tiny'); "
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, "publish", str(folder), "me/tiny-xet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and "offers no Xet storage" in run.stderr
    assert f"at commit {hub_server.resolve('me/tiny-xet')}" in run.stdout
    assert hub_server.read("me/tiny-xet", "model.safetensors") == (folder / "model.safetensors").read_bytes()


def test_torchvision_encoder_weights_that_cannot_be_downloaded_say_what_to_do(tmp_path, monkeypatch):
    # torchvision's file comes from its own server through torch.hub (not the Hub): a proxy on a closed loopback
    # port refuses the connection, as a machine without network does
    import urllib.request

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty torch.hub cache
    # urlopen keeps the opener it first builds, with the proxies of that moment: this test's must not outlive it
    monkeypatch.setattr(urllib.request, "_opener", None)
    with closed_port() as proxy:
        for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(variable, proxy)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        with pytest.raises(WeightsError) as err:
            create_encoder("tv_mobilenet_v3_large", pretrained=True)
    message = str(err.value)
    assert message.startswith("ImageNet weights of encoder 'tv_mobilenet_v3_large': cannot download https://")
    assert f"{tmp_path / 'torch' / 'hub'}/checkpoints/" in message and "pretrained_encoder=False" in message
