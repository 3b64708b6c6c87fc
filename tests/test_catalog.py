import json
from pathlib import Path

import jsonschema
import pytest

import segzoo
from segzoo import _plugins
from segzoo._catalog import packaged_catalog_path, read_catalog, schema_path
from segzoo.errors import CatalogError

ROOT = Path(__file__).resolve().parents[1]


def entry(name="demo-model", **changes):
    base = {
        "name": name,
        "architecture": "tiny",
        "encoder": "resnet18",
        "requires": "segzoo-test-tiny",
        "num_classes": 2,
        "class_names": ["background", "thing"],
        "preprocessing": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
        "dataset": {"train": "none", "eval": "none"},
        "metrics": {"values": {}, "source": "n/a"},
        "license": "MIT",
        "paper": {"title": "t", "url": "https://example.org"},
        "weights": {
            "format": "segzoo",
            "hub": {"repo_id": "org/demo", "filename": "model.safetensors", "revision": "main"},
            "sha256": None,
        },
    }
    base.update(changes)
    return base


def write_catalog(path: Path, *entries) -> Path:
    path.write_text(json.dumps({"schema_version": 1, "models": list(entries)}))
    return path


def test_registry_json_follows_its_schema():
    data = json.loads((ROOT / "registry.json").read_text())
    schema = json.loads(schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema)
    names = [m["name"] for m in data["models"]]
    assert len(names) == len(set(names)), "duplicate catalog names"
    for model in data["models"]:
        assert len(model["class_names"]) == model["num_classes"], model["name"]
        if "url" in model["weights"]:
            assert model["weights"]["url"].startswith("https://") and model["weights"]["sha256"]
        if model["metrics"]["values"]:
            source = model["metrics"]["source"]
            script = source.split()[1] if source.startswith("python ") else ""  # a script of this repository
            assert "https://" in source or source.startswith("segzoo ") or (ROOT / script).is_file(), (
                f"{model['name']}: metrics need a source"
            )


def test_packaged_catalog_is_the_root_registry():
    assert packaged_catalog_path().resolve() == (ROOT / "registry.json").resolve()


def test_schema_errors_name_file_model_and_field(tmp_path):
    bad = write_catalog(tmp_path / "bad.json", entry(num_classes=3))
    with pytest.raises(CatalogError, match=r"bad.json: model 'demo-model' has num_classes=3 but 2 class_names"):
        read_catalog(bad)
    bad = write_catalog(
        tmp_path / "bad2.json", entry(weights={"format": "pickle", "url": "https://x/y.pth", "sha256": "abcdef12"})
    )
    with pytest.raises(CatalogError, match=r"bad2.json: model 'demo-model', field weights/format"):
        read_catalog(bad)
    url_without_hash = entry(weights={"format": "segzoo", "url": "https://x/y.pth", "sha256": None})
    with pytest.raises(CatalogError):
        read_catalog(write_catalog(tmp_path / "bad3.json", url_without_hash))


def test_segzoo_registry_environment_adds_entries(tmp_path, monkeypatch, tiny):
    first = write_catalog(tmp_path / "a.json", entry("mirror-one"))
    second = write_catalog(tmp_path / "b.json", entry("mirror-two", num_classes=1, class_names=["fg"]))
    monkeypatch.setenv("SEGZOO_REGISTRY", f"{first}:{second}")
    _plugins.reset()
    assert segzoo.list_models("mirror-*") == ["mirror-one", "mirror-two"]
    info = segzoo.info("mirror-two")
    assert info["num_classes"] == 1 and info["provided_by"] == f"SEGZOO_REGISTRY:{second}"
    _plugins.reset()


def test_segzoo_registry_clash_needs_override(tmp_path, monkeypatch):
    one = write_catalog(tmp_path / "one.json", entry("same"))
    two = write_catalog(tmp_path / "two.json", entry("same", description="override attempt"))
    monkeypatch.setenv("SEGZOO_REGISTRY", f"{one}:{two}")
    _plugins.reset()
    plugin = _plugins.registries().plugin(f"SEGZOO_REGISTRY:{two}")
    assert plugin.status == "broken" and "registered by both" in plugin.error
    write_catalog(two, entry("same", description="mirror", override=True))
    _plugins.reset()
    assert segzoo.info("same")["description"] == "mirror"
    _plugins.reset()


def test_unknown_model_suggests_closest(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGZOO_REGISTRY", str(write_catalog(tmp_path / "c.json", entry("demo-model"))))
    _plugins.reset()
    with pytest.raises(segzoo.errors.UnknownNameError, match="did you mean 'demo-model'"):
        segzoo.info("demo-modl")
    _plugins.reset()
