"""Trust in weights: trust on first use for prefix hashes, the converted cache verified like a download, hostile
files and configs as one-line errors (the real huggingface_hub client against servers on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import logging
import struct

import pytest
import torch
from safetensors.torch import save
from test_weights import catalog_entry, file_server, pth_bytes, same_outputs, tiny_weights, use_catalog  # noqa: F401

import segzoo
from segzoo.errors import CatalogError, WeightsError, WeightsIntegrityError, WeightsNotCachedError
from segzoo.hub import converted, download, trust


def converted_files() -> list:
    return sorted((download.cache_dir() / "converted").glob("*.safetensors"))


@pytest.fixture
def url_model(file_server, hf_env, tmp_path, monkeypatch, tiny):  # noqa: F811
    """A torchvision-style URL entry whose catalog sha256 is the 8-hex prefix of the served .pth."""
    handler, base = file_server
    state, reference = tiny_weights(11)
    blob = pth_bytes(state)
    handler.files["/models/tiny-11.pth"] = blob
    url = f"{base}/models/tiny-11.pth"
    sha = hashlib.sha256(blob).hexdigest()
    use_catalog(tmp_path, monkeypatch, catalog_entry("tiny-tofu", {"format": "segzoo", "url": url, "sha256": sha[:8]}))
    return {"handler": handler, "url": url, "sha": sha, "reference": reference}


# -- trust on first use ---------------------------------------------------------------------------------------------
def test_first_download_records_the_full_hash_and_keys_the_conversion_by_it(url_model):
    assert trust.trusted_sha256(url_model["url"]) is None
    assert same_outputs(segzoo.load("tiny-tofu"), url_model["reference"])
    assert trust.trusted_sha256(url_model["url"]) == url_model["sha"]
    assert [p.name for p in converted_files()] == [f"tiny-tofu-{url_model['sha'][:16]}.safetensors"]
    assert segzoo.info("tiny-tofu")["pinned"] is False


def test_a_different_file_under_the_same_prefix_is_refused(url_model, hf_env):
    segzoo.load("tiny-tofu")
    # what the first download recorded differs from what the server gives now (a prefix collision, simulated)
    other = url_model["sha"][:8] + "0" * 56
    data = json.loads(trust.store_path().read_text())
    data[url_model["url"]]["sha256"] = other
    trust.store_path().write_text(json.dumps(data))
    with pytest.raises(WeightsIntegrityError) as err:
        segzoo.load("tiny-tofu")
    message = str(err.value)
    assert "\n" not in message and "tiny-11.pth" in message and url_model["sha"] in message and other in message
    assert str(trust.store_path()) in message and "delete" in message
    assert not list(download.cache_dir().rglob(".download-*")), "the refused file is not kept"


# -- the converted cache is verified like a download ----------------------------------------------------------------
def test_a_flipped_byte_in_a_converted_file_is_detected_and_rebuilt(url_model, caplog):
    segzoo.load("tiny-tofu")
    (path,) = converted_files()
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor: safetensors itself would load this silently
    path.write_bytes(bytes(data))
    url_model["handler"].hits.clear()
    with caplog.at_level(logging.WARNING, logger="segzoo"):
        model = segzoo.load("tiny-tofu")
    assert same_outputs(model, url_model["reference"])
    assert "was corrupt" in caplog.text and url_model["handler"].hits == ["/models/tiny-11.pth"]
    assert converted_files() == [path]


def test_a_truncated_converted_file_offline_is_one_line_with_the_fix_then_rebuilt_online(url_model, hf_env):
    segzoo.load("tiny-tofu")
    (path,) = converted_files()
    path.write_bytes(path.read_bytes()[:100])
    with hf_env.offline(), pytest.raises(WeightsNotCachedError) as err:
        segzoo.load("tiny-tofu")
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "segzoo download tiny-tofu" in message
    assert not path.exists()
    assert same_outputs(segzoo.load("tiny-tofu"), url_model["reference"])  # not broken for good


def test_a_converted_file_without_its_record_is_not_trusted(url_model):
    segzoo.load("tiny-tofu")
    (path,) = converted_files()
    path.with_suffix(".json").unlink()
    torch.manual_seed(0)
    state = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in tiny_weights(12)[0].items()}
    path.write_bytes(save(state))  # a well-formed file with other weights, e.g. planted in the cache
    assert same_outputs(segzoo.load("tiny-tofu"), url_model["reference"])


@pytest.mark.slow
def test_hub_pickle_conversion_follows_the_branch_and_rebuilds_offline(hub_server, hf_env, tmp_path, monkeypatch, tiny):
    repo = "segzoo-test/tiny-bin"
    (state1, model1), (state2, model2) = tiny_weights(21), tiny_weights(22)
    hub_server.create_repo(repo)
    hub_server.commit(repo, {"pytorch_model.bin": pth_bytes(state1)})
    use_catalog(
        tmp_path,
        monkeypatch,
        catalog_entry(
            "tiny-bin",
            {
                "format": "segzoo",
                "sha256": None,
                "hub": {"repo_id": repo, "filename": "pytorch_model.bin", "revision": "main"},
            },
        ),
    )
    assert same_outputs(segzoo.load("tiny-bin"), model1)
    hub_server.commit(repo, {"pytorch_model.bin": pth_bytes(state2)})  # upstream changes main
    assert same_outputs(segzoo.load("tiny-bin"), model2), "a conversion keyed by the branch name would be stale"
    newest = max(converted_files(), key=lambda p: p.stat().st_mtime_ns)
    newest.write_bytes(newest.read_bytes()[:-1] + b"\x00")
    with hf_env.offline():  # rebuilt from the verified .bin in the Hugging Face cache, no network needed
        assert same_outputs(segzoo.load("tiny-bin"), model2)


# -- hostile files as one line ----------------------------------------------------------------------------------------
def test_pickled_objects_are_refused_in_segzoo_words(file_server, hf_env, tmp_path, monkeypatch, tiny):  # noqa: F811
    import argparse

    handler, base = file_server
    blob = pth_bytes({"w": torch.zeros(1), "payload": argparse.Namespace(code="anything")})
    handler.files["/evil.pth"] = blob
    use_catalog(
        tmp_path,
        monkeypatch,
        catalog_entry(
            "tiny-evil", {"format": "segzoo", "url": f"{base}/evil.pth", "sha256": hashlib.sha256(blob).hexdigest()}
        ),
    )
    with pytest.raises(WeightsError) as err:
        segzoo.load("tiny-evil")
    message = str(err.value)
    assert "weights of 'tiny-evil'" in message and "refused to unpickle objects" in message
    assert "weights_only=False" not in message and ".download-" not in message and "\n" not in message


def _crafted(header: object, data: bytes = b"\0" * 8, *, length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


@pytest.mark.parametrize(
    "blob, why",
    [
        (_crafted({"w": {"dtype": "F32", "shape": [-1, -2], "data_offsets": [0, 8]}}), "non-negative"),
        (_crafted([1, 2, 3]), "not an object"),
        (_crafted("text"), "not an object"),
        (_crafted({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, length=1 << 62), "header length"),
        (_crafted({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}), "outside"),
        (
            _crafted(
                {
                    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
                }
            ),
            "overlap",
        ),
        (_crafted({"w": {"dtype": "X9", "shape": [2], "data_offsets": [0, 8]}}), "dtype"),
        (_crafted({"w": "nothing"}), "dtype"),
        (b"\x01", "not a readable safetensors file"),
    ],
)
def test_crafted_safetensors_headers_are_one_line(tmp_path, blob, why):
    from segzoo.hub.loading import _read_safetensors

    path = tmp_path / "model.safetensors"
    path.write_bytes(blob)
    with pytest.raises(WeightsError, match=why) as err:
        _read_safetensors(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("num_classes", "11", "positive integer"),
        ("num_classes", None, "positive integer"),
        ("num_classes", 0, "positive integer"),
        ("num_classes", True, "positive integer"),
        ("options", [1, 2], "keyword arguments"),
        ("encoder", 5, "string"),
        ("class_names", "abc", "list of strings"),
        ("dataset", "DRIVE", "an object"),
    ],
)
def test_wrong_types_in_config_json_are_one_line(tmp_path, tiny, field, value, expected):
    torch.manual_seed(0)
    folder = segzoo.create("tiny", num_classes=3).save_pretrained(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=f"'{field}' is .*expected .*{expected}") as err:
        segzoo.load(folder)
    assert "\n" not in str(err.value)


def test_catalog_refuses_dotdot_absolute_and_overlong_names(tmp_path, monkeypatch, tiny):
    from segzoo._catalog import read_catalog

    def catalog_with(**changes) -> str:
        entry = catalog_entry(
            "tiny-x",
            {
                "format": "segzoo",
                "sha256": None,
                "hub": {"repo_id": "a/b", "filename": "model.safetensors", "revision": "main"},
            },
        )
        entry["weights"]["hub"].update(changes.get("hub", {}))
        entry["name"] = changes.get("name", entry["name"])
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"schema_version": 1, "models": [entry]}))
        with pytest.raises(CatalogError) as err:
            read_catalog(path)
        assert "\n" not in str(err.value) and len(str(err.value)) < 400
        return str(err.value)

    for bad in ("../../outside.safetensors", "sub/../../x.bin", "/abs/model.bin", "a\\b.bin"):
        assert "weights/hub/filename" in catalog_with(hub={"filename": bad})
    assert "300 characters, more than the 200" in catalog_with(hub={"filename": "m" * 300})
    assert "field name: 500 characters" in catalog_with(name="n" * 500)
    assert converted.converted_path("n" * 128, "0" * 64).name  # the longest allowed name still makes a valid path
