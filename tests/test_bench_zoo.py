"""`segzoo bench --models PATTERN...`: catalog selection, the resumable results store, published-vs-measured."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import segzoo
from quick_bench import QUICK_BENCH
from segzoo.errors import UnknownNameError
from segzoo.evaluation.selection import evaluated_on, select_entries
from segzoo.evaluation.store import ResultStore, result_key

ROOT = Path(__file__).resolve().parents[1]
CAMVID = Path(os.environ.get("SEGZOO_DATA", ROOT.parent / "shared" / "datasets")) / "camvid"
FIRST_PARTY = sorted(p.name for p in (ROOT / "checkpoints").glob("*-camvid") if (p / "config.json").is_file())


def _installed(names):
    return [n for n in names if segzoo.info(n)["available"]]


def test_selection_by_glob_family_plugin_and_dataset():
    assert select_entries(["*-camvid"]).names == _installed(FIRST_PARTY)
    by_family = select_entries(["pspnet"]).names
    every = _installed(segzoo.list_models("*"))
    assert by_family and set(by_family) == {n for n in every if segzoo.info(n)["architecture"] == "pspnet"}
    by_plugin = select_entries(["segzoo-hrnet"]).names
    assert by_plugin and all(segzoo.info(n)["requires"] == "segzoo-hrnet" for n in by_plugin)
    assert select_entries(["camvid"]).names == _installed(FIRST_PARTY)  # a dataset name


def test_dataset_keeps_only_the_entries_evaluated_on_it():
    picked = select_entries(["*-camvid", "fcn-*"], dataset="camvid", num_classes=11)
    assert sorted(picked.names) == _installed(FIRST_PARTY)
    assert any("not camvid" in why for _, why in picked.skipped)  # mmseg's Cityscapes FCNs are left out
    # Pascal Context's 60 and 59 classes share their text; the class count tells them apart
    entry = {"num_classes": 59, "dataset": {"name": "Pascal Context 59", "eval": "Pascal Context val"}}
    assert evaluated_on(entry, "pascal_context59", 59) and not evaluated_on(entry, "pascal_context", 60)
    coco_voc = {"num_classes": 21, "dataset": {"eval": "COCO-val2017 (20 VOC categories)"}}
    assert not evaluated_on(coco_voc, "voc2012", 21)


def test_a_pattern_that_matches_nothing_is_one_clear_error():
    with pytest.raises(UnknownNameError, match="matches no catalog entry.*did you mean 'pspnet'"):
        select_entries(["pspnett"])


def test_store_appends_whole_lines_and_survives_a_torn_one(tmp_path):
    store = ResultStore(tmp_path / "r.jsonl")
    k1 = store.append({"model": "a"}, {"x": 1}, {"cpu": "c"})
    with open(store.path, "a") as f:
        f.write('{"key": "torn", "fie')  # a run killed in the middle of a write
    k2 = store.append({"model": "b"}, {"x": 2}, {"cpu": "c"})
    lines = store.load()
    assert set(lines) == {k1, k2} and lines[k2]["result"] == {"x": 2}
    assert k1 == result_key({"model": "a"}) != k2


def _bench(store: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "segzoo",
        "bench",
        "--models",
        "*-camvid",
        "--size",
        "64",
        *QUICK_BENCH,
        "--markdown",
        str(store.with_suffix(".md")),
        *extra,
    ]


@pytest.mark.slow
def test_a_killed_speed_run_resumes_where_it_stopped(tmp_path):
    names = _installed(FIRST_PARTY)
    if len(names) < 2:
        pytest.skip("needs two first-party plugins installed")
    store = tmp_path / "board.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(_bench(store), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        if store.exists() and store.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    first.kill()
    first.wait()
    done = [json.loads(line)["result"]["model"] for line in store.read_text().splitlines()]
    assert 1 <= len(done) < len(names), "the first run was not stopped mid-way"

    second = subprocess.run(_bench(store), env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr[-3000:]
    counts = re.search(
        r"(\d+) run now .*?, (\d+) already in [^,]+(?:, (\d+) share another entry's network)?", second.stdout
    )
    assert counts, second.stdout
    ran, stored, shared = (int(c or 0) for c in counts.groups())  # entries with one network are measured once
    assert (ran + shared, stored) == (len(names) - len(done), len(done)), second.stdout
    lines = [json.loads(line) for line in store.read_text().splitlines()]
    measured = [line["result"]["model"] for line in lines]
    assert len(set(measured)) == len(measured) == len(names) - shared and set(measured) <= set(names)  # none twice
    assert all(line["result"]["random_weights"] and line["fingerprint"]["cpu"] for line in lines)
    board = json.loads(store.with_suffix(".json").read_text())  # rebuilt from the store, both runs' results
    assert [r["model"] for r in board["results"]] == names and board["missing"] == []
    assert "Random weights" in store.with_suffix(".md").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not (CAMVID / "valannot").is_dir(), reason=f"CamVid not found at {CAMVID}")
def test_dataset_run_compares_with_the_published_metric(tmp_path, hub_server, hf_env, capsys):
    from segzoo.cli import main
    from segzoo.hub.serialization import publish_directory

    name = "fcn-mobilenetv3-camvid"
    if not segzoo.info(name)["available"]:
        pytest.skip("segzoo-fcn is not installed")
    publish_directory(ROOT / "checkpoints" / name, segzoo.info(name)["weights"]["hub"]["repo_id"])
    md = tmp_path / "camvid.md"
    args = [
        "bench",
        "--models",
        name,
        "fcn-*",
        "--dataset",
        "camvid",
        "--root",
        str(CAMVID),
        "--limit",
        "2",
        *QUICK_BENCH,
        "--markdown",
        str(md),
    ]
    assert main(args) == 0
    board = json.loads(md.with_suffix(".json").read_text())
    [result] = board["results"]  # the Cityscapes FCNs matched 'fcn-*' but are evaluated elsewhere
    published = segzoo.info(name)["metrics"]["values"]["mIoU"]
    assert result["published"] == published and result["published_metric"] == "mIoU"
    assert result["delta_published"] == pytest.approx(100 * result["mIoU"] - published)
    assert result["flagged"] == (abs(result["delta_published"]) > 0.5)
    assert (
        result["protocol"].endswith("the published protocol (override with --mode/--crop/--stride)")
        or "records no published protocol" in result["protocol"]
    )
    assert "measured - published" in md.read_text()
    assert main(args) == 0  # the same command again: nothing to do
    assert "0 run now" in capsys.readouterr().out


def test_entries_that_build_the_same_network_are_timed_once(tmp_path, monkeypatch, capsys):
    """Speed only, a result belongs to the network: a second catalog name for the same network reuses it."""
    from segzoo import registry
    from segzoo.cli import main

    original = "segnet-basic-camvid"
    if not _installed([original]):
        pytest.skip("needs segzoo-segnet")
    twin = next(m for m in json.loads((ROOT / "registry.json").read_text())["models"] if m["name"] == original)
    catalog = tmp_path / "twin.json"
    catalog.write_text(json.dumps({"schema_version": 1, "models": [{**twin, "name": "segnet-basic-camvid-twin"}]}))
    monkeypatch.setenv("SEGZOO_REGISTRY", str(catalog))
    registry.reset()
    try:
        command = _bench(tmp_path / "board.jsonl")[3:]
        command[command.index("*-camvid")] = "segnet-basic-camvid*"
        assert main(command) == 0
        out = capsys.readouterr().out
        assert "1 run now" in out and "1 share another entry's network" in out
        lines = [json.loads(line) for line in (tmp_path / "board.jsonl").read_text().splitlines()]
        assert [line["result"]["model"] for line in lines] == [original]
        assert "network" in lines[0]["fields"] and "model" not in lines[0]["fields"]
        board = json.loads((tmp_path / "board.json").read_text())
        by_name = {r["model"]: r for r in board["results"]}
        assert set(by_name) == {original, "segnet-basic-camvid-twin"}
        assert by_name["segnet-basic-camvid-twin"]["measured_as"] == original
        assert by_name["segnet-basic-camvid-twin"]["latency_ms"] == by_name[original]["latency_ms"]
        assert "same network as" in (tmp_path / "board.md").read_text()
    finally:
        registry.reset()


@pytest.mark.slow
def test_int8_zoo_bench_calibrates_and_keys_results_by_calibration(tmp_path, monkeypatch, capsys):
    from segzoo.cli import main

    name = "fcn-mobilenetv3-camvid"
    if not _installed([name]):
        pytest.skip("needs segzoo-fcn")
    monkeypatch.setenv("SEGZOO_CACHE", str(tmp_path / "cache"))
    command = _bench(tmp_path / "board.jsonl")[3:]
    command[command.index("*-camvid")] = name
    command[command.index("eager")] = "onnxruntime"
    int8 = ["--precision", "int8", "--calibration-dataset", "shapes", "--calibration-size", "1"]
    assert main([*command, *int8]) == 0
    line = json.loads((tmp_path / "board.jsonl").read_text())
    assert line["fields"]["precision"] == "int8"
    assert line["fields"]["calibration"] == {"dataset": "shapes", "split": "train", "size": 1}
    assert line["result"]["precision"] == "int8" and line["result"]["int8"]
    assert main(command) == 0  # fp32: another result, not the int8 one
    assert len((tmp_path / "board.jsonl").read_text().splitlines()) == 2
    assert "1 run now" in capsys.readouterr().out
