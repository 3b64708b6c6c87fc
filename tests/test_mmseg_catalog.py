"""The generated mmsegmentation catalog: reproducible from mmseg's metafiles, documented, converted, evaluated with
its published protocol. Tests that need the mmseg twin skip without it (the test extras install it)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

import segzoo
from segzoo import _plugins
from segzoo.errors import SegzooError, WeightsError
from segzoo.inference.preprocessing import Preprocessing

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    """A module of scripts/ (not a package), imported from its file."""
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _registry() -> list[dict]:
    return json.loads((ROOT / "registry.json").read_text())["models"]


def _mmseg_entries() -> list[dict]:
    return [e for e in _registry() if e["weights"]["format"] == "mmseg"]


# -- the files the generator writes ------------------------------------------------------------------------------------
def test_catalog_page_is_generated_from_registry_json():
    page = _script("catalog_page")
    models = _registry()
    expected = page.render_page(models)
    assert (ROOT / "docs" / "zoo.md").read_text() == expected, "run python scripts/catalog_page.py"
    for entry in models:  # every entry is listed, with its published metric
        row = next(line for line in expected.splitlines() if line.startswith(f"| `{entry['name']}` |"))
        for key, value in entry["metrics"]["values"].items():
            assert f"{key} {value}" in row


def test_page_groups_by_family_and_dataset():
    page = _script("catalog_page")
    entry = {
        "name": "x-1",
        "architecture": "pspnet",
        "encoder": "e",
        "upstream": {"config": "configs/hrnet/a.py"},
        "dataset": {"name": "DRIVE", "eval": "DRIVE test"},
        "metrics": {"values": {"mDice": 88.38}},
        "weights": {"format": "mmseg", "url": "https://h/x.pth"},
    }
    text = page.render_page([entry, {**entry, "name": "x-2", "upstream": {"config": "configs/pspnet/b.py"}}])
    assert text.index("## HRNet (FCN head)") < text.index("### DRIVE") < text.index("`x-1`") < text.index("## PSPNet")
    assert "mDice 88.38" in text and "2 models" in text


def test_splice_keeps_other_entries_byte_for_byte():
    gen = _script("generate_mmseg_catalog")
    text = (ROOT / "registry.json").read_text()
    without = gen.splice(text, [])
    head, kept, _ = gen.split_models(without)
    _, every, _ = gen.split_models(text)
    assert kept == [e for e in every if json.loads(e)["weights"]["format"] != "mmseg"]
    assert gen.splice(without, _mmseg_entries()) == text  # the generated part is appended, in order
    with pytest.raises(SystemExit, match="already taken"):
        gen.splice(text, [{**_mmseg_entries()[0], "name": json.loads(kept[0])["name"]}])


def test_catalog_names():
    gen = _script("generate_mmseg_catalog")
    assert (
        gen.catalog_name("pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024") == "pspnet-r50-d8-40k-cityscapes-512x1024"
    )
    assert (
        gen.catalog_name("unet/unet_s5-d16_deeplabv3_4xb4-40k_chase-db1-128x128")
        == "unet-s5-d16-deeplabv3-40k-chase-db1-128x128"
    )
    assert (
        gen.catalog_name("deeplabv3plus/deeplabv3plus_r50-d8_4xb2-300k_mapillay_v1_65-1280x1280")
        == "deeplabv3plus-r50-d8-300k-mapillary-v1-65-1280x1280"
    )
    assert (
        gen.catalog_name("ocrnet/ocrnet_r101-d8_8xb2-40k_cityscapes-512x1024", keep_gpus=True)
        == "ocrnet-r101-d8-8xb2-40k-cityscapes-512x1024"
    )
    assert gen.catalog_name("hrnet/fcn_hr18s_4xb4-80k_loveda-512x512") == "hrnet-fcn-hr18s-80k-loveda-512x512"


def test_generated_entries_are_complete():
    entries = _mmseg_entries()
    if not entries:
        pytest.skip("no mmseg entries generated yet")
    names = [e["name"] for e in _registry()]
    assert len(names) == len(set(names))
    for e in entries:
        where = e["name"]
        assert e["weights"]["url"].endswith(f"-{e['weights']['sha256']}.pth"), where
        assert len(e["palette"]) == len(e["class_names"]) == e["num_classes"], where
        assert e["preprocessing"]["mean"] == [0.485, 0.456, 0.406], where  # 123.675/255...
        assert e["license"] == "Apache-2.0" and e["paper"]["url"].startswith("https://"), where
        assert e["metrics"]["values"] and "metafile.yaml" in e["metrics"]["source"], where
        assert e["upstream"]["config"].startswith("configs/") and e["training"]["iterations"] >= 1000, where
        if e["inference"]["mode"] == "slide":
            assert len(e["inference"]["crop"]) == len(e["inference"]["stride"]) == 2, where
        assert segzoo.list_models(e["name"].split("-")[0] + "-*"), where


# -- against the installed mmseg ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mmseg_twin():
    pytest.importorskip("mmseg")
    return importlib.import_module("segzoo.testing.mmseg")


def test_keep_ratio_resize_is_mmcvs(mmseg_twin):
    from mmcv.image import rescale_size

    for limits in ((2048, 1024), (2048, 512), (520, 520), (2049, 1025), (584, 565)):
        pre = Preprocessing(resize={"max_long_side": max(limits), "max_short_side": min(limits)})
        for size in ((2048, 1024), (683, 512), (500, 375), (375, 500), (1600, 1200), (3000, 500), (565, 584)):
            assert pre.output_size(*size) == rescale_size(size, limits), (limits, size)


def test_config_corrections_name_the_checkpoints_real_config(mmseg_twin):
    from segzoo.testing.mmseg_parity import CONFIG_CORRECTIONS

    gen = _script("generate_mmseg_catalog")
    files = {m["Weights"].rsplit("/", 1)[-1] for f in gen.FAMILIES for m in gen.metafile_models(f)}
    for prefix, config in CONFIG_CORRECTIONS.items():
        assert mmseg_twin.config_path(config.removeprefix("configs/")).is_file(), config
        assert any(f.startswith(prefix) for f in files), prefix  # still a checkpoint of the metafiles
        model, backbone, schedule = config.split("/")[-1].split("_")[:3]  # e.g. ocrnet, hr18s, 4xb4-160k
        assert prefix.startswith(f"{model}_{backbone}_") and f"_{schedule.split('-')[-1]}_" in prefix, (prefix, config)


@pytest.mark.slow
def test_generator_reproduces_registry_and_docs(mmseg_twin, capsys):
    """Re-running the generator over every family (about 40 s: one mmengine Config per checkpoint) writes
    registry.json, docs/zoo.md and docs/mmseg-left-out.md byte for byte as committed."""
    gen = _script("generate_mmseg_catalog")
    assert gen.main(["--check"]) == 0, capsys.readouterr().out


# -- segzoo convert -------------------------------------------------------------------------------------------------
def _convertible(prefix: str) -> dict:
    from segzoo.hub.loading import converter_for

    for entry in _mmseg_entries():
        if entry["name"].startswith(prefix):
            try:
                converter_for(entry)
            except SegzooError:
                break
            return entry
    pytest.skip(f"no {prefix}* entry with an installed converter")


@pytest.fixture(scope="module")
def mmseg_checkpoint(mmseg_twin, tmp_path_factory):
    """A random mmseg PSPNet R-18 saved the way mmseg saves checkpoints, and its twin."""
    entry = _convertible("pspnet-r18-d8")
    twin = mmseg_twin.randomize_(mmseg_twin.build_twin(entry["upstream"]["config"][8:-3]), seed=3)
    path = tmp_path_factory.mktemp("mmseg") / "pspnet_r18.pth"
    torch.save({"state_dict": twin.state_dict(), "meta": {"mmseg_version": "1.2.2", "epoch": 1}}, path)
    return entry, twin, path


def test_convert_refuses_a_file_of_another_hash(mmseg_checkpoint, tmp_path):
    entry, _, path = mmseg_checkpoint
    with pytest.raises(WeightsError, match=f"expects {entry['weights']['sha256']}.*--no-verify") as err:
        segzoo.convert(entry["name"], path, tmp_path / "out")
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()
    by_file_name = entry["weights"]["url"].split("/")[-1]  # upstream files are known by their URL
    with pytest.raises(WeightsError, match=f"but '{entry['name']}' expects"):
        segzoo.convert(by_file_name, path, tmp_path / "out")


@pytest.mark.slow
def test_convert_gives_mmsegs_logits(mmseg_twin, mmseg_checkpoint, tmp_path, capsys, caplog):
    from segzoo.cli import main

    entry, twin, path = mmseg_checkpoint
    out = tmp_path / "converted"
    assert main(["convert", entry["name"], str(path), "-o", str(out), "--no-verify"]) == 0
    assert "NOT verified" in capsys.readouterr().out
    assert "NOT VERIFIED" in caplog.text
    model = segzoo.load(out)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), mmseg_twin.twin_logits(twin, x), atol=1e-4, rtol=0)
    assert model.config["inference"] == entry["inference"] and model.config["palette"] == entry["palette"]


@pytest.mark.slow
def test_convert_verifies_against_the_entry(mmseg_checkpoint, tmp_path, monkeypatch):
    from segzoo.hub.download import file_sha256

    entry, _, path = mmseg_checkpoint
    mine = {k: v for k, v in entry.items()}
    mine.update(name="my-pspnet", weights={**entry["weights"], "sha256": file_sha256(path)[:12]})
    catalog = tmp_path / "mine.json"
    catalog.write_text(json.dumps({"schema_version": 1, "models": [mine]}))
    monkeypatch.setenv("SEGZOO_REGISTRY", str(catalog))
    _plugins.reset()
    try:
        out = segzoo.convert("my-pspnet", path, tmp_path / "ok")
        assert segzoo.load(out).config["name"] == "my-pspnet"
    finally:
        _plugins.reset()


# -- eval: the published protocol ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def published_dir(tmp_path_factory):
    if "fcn" not in segzoo.list_architectures() or "shapes" not in segzoo.list_datasets():
        pytest.skip("needs segzoo-fcn and segzoo-datasets")
    torch.manual_seed(0)
    model = segzoo.create("fcn", encoder="resnet18", num_classes=3).eval()
    model.config["inference"] = {"mode": "slide", "crop": [48, 40], "stride": [32, 24], "align_corners": False}
    return model.save_pretrained(tmp_path_factory.mktemp("published") / "fcn")


def _eval(capsys, *args) -> tuple[dict, str]:
    from segzoo.cli import main

    assert (
        main(
            [
                "eval",
                *args,
                "--dataset",
                "shapes",
                "--split",
                "val",
                "--dataset-option",
                "length=2",
                "--dataset-option",
                "size=64",
                "--engine",
                "eager",
                "--no-progress",
                "--json",
                "-",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    return json.loads(out), out


def test_eval_uses_the_published_protocol_unless_told_otherwise(published_dir, capsys):
    data, _ = _eval(capsys, str(published_dir))
    assert data["settings"]["mode"] == "slide"
    assert data["settings"]["crop"] == [48, 40] and data["settings"]["stride"] == [32, 24]
    assert "the published protocol" in data["protocol"]
    data, _ = _eval(capsys, str(published_dir), "--mode", "whole")
    assert data["settings"]["mode"] == "whole" and data["protocol"] == "whole image, as requested"


# -- key coverage: one entry per structure --------------------------------------------------------------------------
def _one_per_structure() -> list[dict]:
    keys = _script("check_mmseg_keys")
    firsts: dict[str, dict] = {}
    for entry in _mmseg_entries():
        firsts.setdefault(keys.structure(entry), entry)
    return list(firsts.values())


@pytest.mark.slow
@pytest.mark.parametrize("entry", _one_per_structure(), ids=lambda e: e["name"])
def test_converted_mmseg_keys_load_strictly(mmseg_twin, entry):
    """mmseg's randomly initialised model for the entry's config, converted, fills every key of segzoo's model with
    the right shape (scripts/check_mmseg_keys.py runs this over every entry)."""
    _script("check_mmseg_keys").check_entry(entry)


# -- the published protocol end to end, against mmseg's own inference ------------------------------------------------
DRIVE_IMAGE = ROOT.parent / "shared" / "datasets" / "drive" / "DRIVE" / "training" / "images" / "21_training.tif"


@pytest.fixture(scope="module")
def drive_unet(mmseg_twin):
    """The DRIVE U-Net entry, mmseg's model for it with random weights, and segzoo's with the same weights."""
    from segzoo.hub.loading import converter_for, load_from_catalog

    if not DRIVE_IMAGE.is_file():
        pytest.skip("the DRIVE images are not in ../shared/datasets")
    entry = _convertible("unet-s5-d16-fcn-40k-drive")
    twin = mmseg_twin.randomize_(mmseg_twin.build_twin(entry["upstream"]["config"][8:-3]), seed=5)
    model = load_from_catalog(entry, pretrained=True, state=converter_for(entry)(twin.state_dict(), entry))
    return entry, twin, model


def _mmseg_inputs(twin, image_path: Path) -> torch.Tensor:
    """What mmseg's `inference_model` feeds the network: its test pipeline, then its data preprocessor."""
    from mmseg.apis.utils import _preprare_data

    data, _ = _preprare_data(str(image_path), twin)
    return twin.data_preprocessor(data, False)["inputs"]


def test_published_preprocessing_is_mmsegs_on_a_real_image(drive_unet, tmp_path):
    """A DRIVE image through the entry's preprocessing equals mmseg's test pipeline + data preprocessor (RGB order,
    mean/std, the keep-ratio resize); an image that must be resized gets mmseg's size, and pixels within one grey
    level (PIL's and OpenCV's bilinear round differently)."""
    from PIL import Image

    _, twin, model = drive_unet
    pre = Preprocessing.from_model(model)
    image = Image.open(DRIVE_IMAGE)
    expected = _mmseg_inputs(twin, DRIVE_IMAGE)
    torch.testing.assert_close(pre(image)[None], expected, atol=1e-5, rtol=0)
    small = tmp_path / "half.png"
    image.resize((image.width // 2, image.height // 2)).save(small)  # enlarged back by the test resize
    expected = _mmseg_inputs(twin, small)
    ours = pre(Image.open(small))[None]
    assert ours.shape == expected.shape
    grey_level = 1 / 255 / min(pre.std)
    assert (ours - expected).abs().max() <= grey_level + 1e-5


def test_published_protocol_is_mmsegs_slide_inference(drive_unet):
    """The entry's protocol through segzoo's `infer` (what `segzoo eval` runs) equals mmseg's `slide_inference`."""
    from segzoo.evaluation.options import protocol_settings
    from segzoo.inference.modes import InferenceSettings, infer

    _, twin, model = drive_unet
    args = type("Args", (), {"mode": None, "crop": None, "stride": None, "scales": None, "flip": False})()
    settings, text = protocol_settings(model, args, InferenceSettings())
    assert (settings.mode, list(settings.crop), list(settings.stride)) == ("slide", [64, 64], [42, 42])
    assert "published" in text
    x = torch.randn(1, 3, 64, 106, generator=torch.Generator().manual_seed(1))  # two overlapping windows
    meta = [dict(img_shape=(64, 106), ori_shape=(64, 106), pad_shape=(64, 106))]
    with torch.no_grad():
        torch.testing.assert_close(infer(model, x, settings), twin.slide_inference(x, meta), atol=1e-4, rtol=0)
