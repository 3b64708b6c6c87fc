"""The evaluation sets of the mmseg catalog (Pascal Context 60/59, COCO-Stuff 164k/10k, LoveDA, Potsdam, Vaihingen,
iSAID) read from tiny trees written in tmp_path in the layouts mmseg's converters write (and the original layouts
where they are read directly), and checked against the catalog entries they score."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image

import segzoo
from segzoo.data import DatasetError, DatasetNotFoundError, MaskValueError, PairingError
from segzoo.data.transforms import pil_to_tensor
from segzoo.testing import contract

W, H = 12, 8
REPO = Path(__file__).resolve().parents[3]


def image(seed: int) -> Image.Image:
    g = torch.Generator().manual_seed(seed)
    return Image.frombytes(
        "RGB", (W, H), torch.randint(0, 256, (H, W, 3), generator=g, dtype=torch.uint8).numpy().tobytes()
    )


def label(values: tuple[int, ...], mode: str = "L") -> Image.Image:
    """Columns of ``values`` repeated across the width (``W`` columns, cycling)."""
    row = bytes(values[i % len(values)] for i in range(W))
    return Image.frombytes("L", (W, H), row * H).convert(mode)


def first_row(mask: Image.Image, n: int) -> list[int]:
    return pil_to_tensor(mask).reshape(H, W)[0, :n].tolist()


def write(path: Path, picture: Image.Image, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, **kwargs)


# -- writers of each layout ------------------------------------------------------------------------------------------
def write_pascal_context(root: Path, values=(0, 1, 59)) -> Path:
    """mmseg's pascal_context.py output under VOCdevkit/VOC2010."""
    voc = root / "VOCdevkit" / "VOC2010"
    splits = {"train": ["2008_000002", "2008_000003"], "val": ["2008_000008"]}
    for split, ids in splits.items():
        (voc / "ImageSets" / "SegmentationContext").mkdir(parents=True, exist_ok=True)
        (voc / "ImageSets" / "SegmentationContext" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        for k, i in enumerate(ids):
            write(voc / "JPEGImages" / f"{i}.jpg", image(k), format="JPEG")
            write(voc / "SegmentationClassContext" / f"{i}.png", label(values))
    write(voc / "JPEGImages" / "2007_000027.jpg", image(9), format="JPEG")  # a VOC image outside Context's lists
    return voc


def write_coco164k(root: Path, values=(0, 12, 181, 255), train_ids=None) -> Path:
    for split, ids in (("train2017", ["000000000009"]), ("val2017", ["000000000139", "000000000285"])):
        for k, i in enumerate(ids):
            write(root / "images" / split / f"{i}.jpg", image(k), format="JPEG")
            write(root / "annotations" / split / f"{i}.png", label(values))
            if train_ids is not None:
                write(root / "annotations" / split / f"{i}_labelTrainIds.png", label(train_ids))
    return root


def write_coco10k_mmseg(root: Path, values=(0, 1, 171)) -> Path:
    for split, ids in (("train2014", ["COCO_train2014_000000000077"]), ("test2014", ["COCO_train2014_000000000382"])):
        for i in ids:
            write(root / "images" / split / f"{i}.jpg", image(0), format="JPEG")
            write(root / "annotations" / split / f"{i}_labelTrainIds.png", label(values))
    return root


def write_img_ann(root: Path, names: dict[str, list[str]], values, label_suffix: str = ".png", **save) -> Path:
    """mmseg's img_dir/<split>/ and ann_dir/<split>/ layout."""
    for split, stems in names.items():
        for k, stem in enumerate(stems):
            write(root / "img_dir" / split / f"{stem}.png", image(k), **save)
            write(root / "ann_dir" / split / f"{stem}{label_suffix}", label(values, "P"))
    return root


# -- the catalog ------------------------------------------------------------------------------------------------------
#: the catalog's dataset names (registry.json "dataset.name") -> segzoo dataset, for the mmseg entries
CATALOG_DATASETS = {
    "Pascal Context": "pascal_context",
    "Pascal Context 59": "pascal_context59",
    "COCO-Stuff 164k": "coco_stuff164k",
    "COCO-Stuff 10k": "coco_stuff10k",
    "LoveDA": "loveda",
    "Potsdam": "potsdam",
    "Vaihingen": "vaihingen",
    "iSAID": "isaid",
}
WRITERS = {
    "pascal_context": write_pascal_context,
    "pascal_context59": write_pascal_context,
    "coco_stuff164k": write_coco164k,
    "coco_stuff10k": write_coco10k_mmseg,
    "loveda": lambda root: write_img_ann(root, {"val": ["3546"]}, (0, 1, 7)),
    "potsdam": lambda root: write_img_ann(root, {"val": ["2_13_0_0_512_512"]}, (0, 1, 6)),
    "vaihingen": lambda root: write_img_ann(root, {"val": ["area2_0_0_512_512"]}, (0, 1, 6)),
    "isaid": lambda root: write_img_ann(
        root, {"val": ["P0003_0_896_0_896"]}, (0, 15), label_suffix="_instance_color_RGB.png"
    ),
}


#: segzoo's dataset contract (metadata, attributes, items, transform) on each fixture tree, split the catalog scores
CONTRACT = [
    check
    for name, writer in WRITERS.items()
    for check in contract.dataset_checks(name, writer, split="test" if name == "coco_stuff10k" else "val")
]


@contract.parametrize_with_checks(CONTRACT)
def test_contract(check):
    check()


def mmseg_entries() -> list[dict]:
    models = json.loads((REPO / "registry.json").read_text())["models"]
    return [
        m
        for m in models
        if (m.get("weights") or {}).get("format") == "mmseg" and m["dataset"]["name"] in CATALOG_DATASETS
    ]


def test_catalog_entries_score_on_these_datasets(tmp_path):
    """Every mmseg entry evaluated on one of these sets: same class names, palette and ignore index, its eval split
    exists, and label 0 is ignored exactly when the entry says reduce_zero_label."""
    entries = mmseg_entries()
    if not entries:
        pytest.skip("registry.json has no mmseg entries on these datasets yet")
    unmatched = set(CATALOG_DATASETS) - {m["dataset"]["name"] for m in entries}
    assert not unmatched, f"no mmseg entry is evaluated on {unmatched}: renamed in the catalog?"
    built = {}
    for entry in entries:
        name = CATALOG_DATASETS[entry["dataset"]["name"]]
        if name not in built:
            root = WRITERS[name](tmp_path / name)
            built[name] = segzoo.create_dataset(name, root, entry["dataset"]["eval_split"])
        ds = built[name]
        pre = entry["preprocessing"]
        assert ds.classes == entry["class_names"] and ds.palette == entry["palette"], (entry["name"], name)
        assert ds.ignore_index == pre["ignore_index"] == 255
        assert (ds.label_mapping()[0] == 255) == pre["reduce_zero_label"], (entry["name"], name)


def _converter_table(name: str) -> dict[int, int]:
    spec = importlib.util.find_spec("mmseg")
    if spec is None:
        pytest.skip("mmsegmentation is not installed")
    path = Path(spec.origin).parent / ".mim" / "tools" / "dataset_converters" / f"{name}.py"
    if not path.is_file():
        pytest.skip(f"{path} is not installed")
    return {int(a): int(b) for a, b in re.findall(r"^\s+(\d+): (\d+),?$", path.read_text(), re.M)}


def test_coco_stuff_id_tables_are_mmseg_converters():
    from segzoo_datasets.coco_stuff import COCO_ID_TO_TRAIN

    assert _converter_table("coco_stuff164k") == {**COCO_ID_TO_TRAIN, 255: 255}
    assert _converter_table("coco_stuff10k") == {0: 0, **{c + 1: t + 1 for c, t in COCO_ID_TO_TRAIN.items()}}
    assert sorted(COCO_ID_TO_TRAIN.values()) == list(range(171))


# -- Pascal Context --------------------------------------------------------------------------------------------------
def test_pascal_context_60_and_59(tmp_path):
    write_pascal_context(tmp_path)
    ds60 = segzoo.create_dataset("pascal_context", tmp_path, "train")  # the folder holding VOCdevkit is accepted
    ds59 = segzoo.create_dataset("pascal_context59", tmp_path / "VOCdevkit" / "VOC2010", "val")
    assert ds60.num_classes == 60 and ds60.classes[0] == "background" and ds59.classes == ds60.classes[1:]
    assert ds59.palette == ds60.palette[1:]
    assert [p.stem for p, _ in ds60.files] == ["2008_000002", "2008_000003"] and len(ds59) == 1
    image_, mask = ds60.load_pair(1)
    assert image_.size == mask.size == (W, H) and ds60.files[1][1].parent.name == "SegmentationClassContext"
    assert first_row(mask, 3) == [0, 1, 59]
    assert first_row(ds59.load_mask(0), 3) == [255, 0, 58]  # background ignored, classes down one


def test_pascal_context_errors(tmp_path):
    with pytest.raises(
        DatasetNotFoundError,
        match=r"(?s)pascal_context root .* does not exist.*"
        r"SegmentationClassContext.*pascal-context",
    ):
        segzoo.create_dataset("pascal_context", tmp_path / "nowhere", "val")
    (tmp_path / "VOC2010" / "JPEGImages").mkdir(parents=True)  # VOC 2010 as downloaded, not converted
    with pytest.raises(DatasetNotFoundError, match=r"ImageSets/SegmentationContext.*dataset_converters/pascal_context"):
        segzoo.create_dataset("pascal_context59", tmp_path, "val")
    voc = write_pascal_context(tmp_path / "c", values=(0, 60))
    with pytest.raises(MaskValueError, match=r"mask values 60 .*expected 0-59, 255 \(0 background, 1..59"):
        segzoo.create_dataset("pascal_context", voc, "val").load_mask(0)
    (voc / "SegmentationClassContext" / "2008_000003.png").unlink()
    with pytest.raises(PairingError, match=r"1 of 2 labels listed in train.txt are missing .*2008_000003.png"):
        segzoo.create_dataset("pascal_context", voc, "train")


# -- COCO-Stuff ------------------------------------------------------------------------------------------------------
def test_coco_stuff164k_stuffthingmaps_and_mmseg_train_ids(tmp_path):
    root = write_coco164k(tmp_path / "orig")
    ds = segzoo.create_dataset("coco_stuff164k", root, "val")
    assert ds.label_format == "stuffthingmaps" and len(ds) == 2 and ds.num_classes == 171
    assert [p.name for _, p in ds.files] == ["000000000139.png", "000000000285.png"]
    # COCO id 12 follows the unused id 11: train id 11; 181 is the last class; 255 unlabelled
    assert first_row(ds.load_mask(0), 4) == [0, 11, 170, 255]
    write(root / "annotations" / "val2017" / "000000000139.png", label((0, 11)))
    with pytest.raises(MaskValueError, match=r"mask values 11 .*stuffthingmaps"):
        ds.load_mask(0)
    conv = write_coco164k(tmp_path / "conv", values=(5,), train_ids=(3, 170, 255))
    ds = segzoo.create_dataset("coco_stuff164k", conv, "train")
    assert ds.label_format == "trainIds" and [p.name for _, p in ds.files] == ["000000000009_labelTrainIds.png"]
    assert first_row(ds.load_mask(0), 3) == [3, 170, 255]
    with pytest.raises(DatasetNotFoundError, match=r"images/val2017 folder"):
        segzoo.create_dataset("coco_stuff164k", tmp_path, "val")


def test_coco_stuff10k_mmseg_layout(tmp_path):
    root = write_coco10k_mmseg(tmp_path)
    ds = segzoo.create_dataset("coco_stuff10k", root, "test")
    assert ds.splits == ("train", "test") and len(ds) == 1 and ds.classes[0] == "person"
    assert first_row(ds.load_mask(0), 3) == [255, 0, 170]  # reduce_zero_label
    with pytest.raises(DatasetError, match="coco_stuff10k has no split 'val'; choose from 'train', 'test'"):
        segzoo.create_dataset("coco_stuff10k", root, "val")


def test_coco_stuff10k_original_mat_labels(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    import numpy as np

    names = {
        "train": ["COCO_train2014_000000000077", "COCO_train2014_000000000078"],
        "test": ["COCO_train2014_000000000382"],
    }
    (tmp_path / "imageLists").mkdir()
    for split, ids in names.items():
        (tmp_path / "imageLists" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for i in ids:
            write(tmp_path / "images" / f"{i}.jpg", image(1), format="JPEG")
            (tmp_path / "annotations").mkdir(exist_ok=True)
            row = np.array([0, 1, 13, 182] * (W // 4), dtype=np.uint16)
            scipy_io.savemat(tmp_path / "annotations" / f"{i}.mat", {"S": np.tile(row, (H, 1))})
    ds = segzoo.create_dataset("coco_stuff10k", tmp_path, "train")
    assert [p.stem for p, _ in ds.files] == names["train"]
    image_, mask = ds.load_pair(0)
    assert image_.size == mask.size == (W, H)
    assert first_row(mask, 4) == [255, 0, 11, 170]  # 1-based COCO ids; 13 follows the unused 12
    (tmp_path / "annotations" / f"{names['test'][0]}.mat").unlink()
    with pytest.raises(PairingError, match="1 of 1 labels listed in test.txt are missing"):
        segzoo.create_dataset("coco_stuff10k", tmp_path, "test")


# -- LoveDA ----------------------------------------------------------------------------------------------------------
def test_loveda_original_and_mmseg_layouts(tmp_path):
    orig = tmp_path / "orig"
    for region, stems in (("Rural", ["2522", "2523"]), ("Urban", ["3514"])):
        for k, stem in enumerate(stems):
            write(orig / "Val" / region / "images_png" / f"{stem}.png", image(k))
            write(orig / "Val" / region / "masks_png" / f"{stem}.png", label((0, 1, 7)))
    ds = segzoo.create_dataset("loveda", orig, "val")
    assert len(ds) == 3 and ds.classes[0] == "background" and ds.num_classes == 7
    assert first_row(ds.load_mask(2), 3) == [255, 0, 6]  # no-data ignored, classes down one
    (orig / "Train.zip").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match=r"Train.zip .* is not unzipped"):
        segzoo.create_dataset("loveda", orig, "train")
    (orig / "Val" / "Urban" / "masks_png" / "3514.png").unlink()
    with pytest.raises(PairingError, match=r"1 of 3 images .* have no mask.*3514.png"):
        segzoo.create_dataset("loveda", orig, "val")
    conv = write_img_ann(tmp_path / "conv", {"train": ["0", "1"], "val": ["2"]}, (0, 4, 7))
    ds = segzoo.create_dataset("loveda", conv, "train")
    assert len(ds) == 2 and first_row(ds.load_mask(1), 3) == [255, 3, 6]


# -- ISPRS Potsdam and Vaihingen ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, stem, download",
    [
        ("potsdam", "2_13_0_0_512_512", "2_Ortho_RGB.zip"),
        ("vaihingen", "area2_0_0_512_512", "ISPRS_semantic_labeling_Vaihingen.zip"),
    ],
)
def test_isprs_clips(tmp_path, name, stem, download):
    root = write_img_ann(tmp_path / name, {"train": [stem], "val": [stem, stem + "x"]}, (0, 1, 6))
    ds = segzoo.create_dataset(name, root, "val")
    assert len(ds) == 2 and ds.classes == ["impervious_surface", "building", "low_vegetation", "tree", "car", "clutter"]
    image_, mask = ds.load_pair(0)
    assert image_.size == mask.size and first_row(mask, 3) == [255, 0, 5]
    write(root / "ann_dir" / "val" / f"{stem}.png", label((7,)))
    with pytest.raises(MaskValueError, match=r"mask values 7 .*0 ignored, 1..6 classes"):
        ds.load_mask(0)
    (tmp_path / "download").mkdir()
    (tmp_path / "download" / download).write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match=rf"img_dir/val folder at .*dataset_converters/{name}.py"):
        segzoo.create_dataset(name, tmp_path / "download", "val")


# -- iSAID -----------------------------------------------------------------------------------------------------------
def test_isaid_patches(tmp_path):
    # mmseg's converter saves image patches as BMP data under a .png name
    root = write_img_ann(
        tmp_path,
        {"val": ["P0003_0_896_0_896", "P0003_0_896_512_1408"]},
        (0, 15, 255),
        label_suffix="_instance_color_RGB.png",
        format="BMP",
    )
    ds = segzoo.create_dataset("isaid", root, "val")
    assert len(ds) == 2 and ds.num_classes == 16 and ds.classes[0] == "background"
    image_, mask = ds.load_pair(1)
    assert image_.mode == "RGB" and image_.size == mask.size and first_row(mask, 3) == [0, 15, 255]
    (root / "ann_dir" / "val" / "P0003_0_896_0_896_instance_color_RGB.png").rename(
        root / "ann_dir" / "val" / "P0003_0_896_0_896.png"
    )
    with pytest.raises(PairingError, match="1 of 2 images .* have no mask"):
        segzoo.create_dataset("isaid", root, "val")
    with pytest.raises(DatasetNotFoundError, match=r"img_dir/train folder at .*dataset_converters/isaid.py"):
        segzoo.create_dataset("isaid", root, "train")
