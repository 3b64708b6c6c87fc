"""VOC 2012 and ADE20K read from tiny trees written in tmp_path in their official layouts; folder and shapes."""

import pytest
import torch
from PIL import Image, ImageDraw

import segzoo
from segzoo.data import DatasetError, DatasetNotFoundError, MaskValueError, PairingError, colorize, decode_colors
from segzoo.data import transforms as T
from segzoo.data.transforms import pil_to_tensor


def tensor(mask):
    return pil_to_tensor(mask).to(torch.int64)


def noise(w, h, seed):
    g = torch.Generator().manual_seed(seed)
    return Image.frombytes(
        "RGB", (w, h), torch.randint(0, 256, (h, w, 3), generator=g, dtype=torch.uint8).numpy().tobytes()
    )


# -- PASCAL VOC 2012 -------------------------------------------------------------------------------------------------
def bitget(value, bit):
    return (value >> bit) & 1


def voc_devkit_colormap():
    """VOCdevkit's VOClabelcolormap.m, written independently of segzoo's voc_colormap."""
    cmap = []
    for i in range(256):
        r = g = b = 0
        ident = i
        for j in range(8):
            r |= bitget(ident, 0) << (7 - j)
            g |= bitget(ident, 1) << (7 - j)
            b |= bitget(ident, 2) << (7 - j)
            ident >>= 3
        cmap += [r, g, b]
    return cmap


VOC_TRAIN = ["2007_000032", "2007_000039", "2008_000008"]
VOC_VAL = ["2007_000033", "2007_000042"]
SBD_ONLY = ["2008_000002", "2008_000003"]


def voc_label(ident, w=40, h=30, border=2):
    """A class-index label like VOC's: background 0, one object of class 1..20, a 255 'void' border around it."""
    cls = int(ident[-2:]) % 20 + 1
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    draw.rectangle([8 - border, 6 - border, 30 + border, 22 + border], fill=255)
    draw.rectangle([8, 6, 30, 22], fill=cls)
    return mask, cls


def write_voc(tmp_path, *, sbd=False):
    """A tiny VOCdevkit/VOC2012 tree in the official layout: JPEG images, palette PNG labels (VOC colour map,
    index = class, 255 = border), SegmentationObject, ImageSets/Segmentation lists; with ``sbd``, SBD labels in
    SegmentationClassAug ('L' index PNGs) and ImageSets/Segmentation/train_aug.txt."""
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    for sub in (
        "JPEGImages",
        "SegmentationClass",
        "SegmentationObject",
        "Annotations",
        "ImageSets/Segmentation",
        "ImageSets/Main",
    ):
        (voc / sub).mkdir(parents=True)
    cmap = voc_devkit_colormap()
    for n, ident in enumerate(VOC_TRAIN + VOC_VAL + (SBD_ONLY if sbd else [])):
        label, cls = voc_label(ident)
        image = noise(40, 30, n)
        image.paste(tuple(cmap[3 * cls : 3 * cls + 3]), (8, 6, 31, 23))
        image.save(voc / "JPEGImages" / f"{ident}.jpg", quality=90)
        if ident in SBD_ONLY:
            (voc / "SegmentationClassAug").mkdir(exist_ok=True)
            label.save(voc / "SegmentationClassAug" / f"{ident}.png")
            continue
        for folder, data in (
            ("SegmentationClass", label),
            ("SegmentationObject", label.point(lambda v: 1 if 0 < v < 255 else v)),
        ):
            png = Image.frombytes("P", data.size, data.tobytes())
            png.putpalette(cmap)
            png.save(voc / folder / f"{ident}.png")
        (voc / "Annotations" / f"{ident}.xml").write_text(f"<annotation><filename>{ident}.jpg</filename></annotation>")
    lists = {"train": VOC_TRAIN, "val": VOC_VAL, "trainval": sorted(VOC_TRAIN + VOC_VAL)}
    for name, ids in lists.items():
        (voc / "ImageSets" / "Segmentation" / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    if sbd:
        aug = VOC_TRAIN[:2] + SBD_ONLY + [VOC_VAL[0]]  # a val id in the SBD list must be dropped
        (voc / "ImageSets" / "Segmentation" / "train_aug.txt").write_text("".join(f"{i}\n" for i in aug))
    return voc


def test_voc_fixture_follows_the_official_palette_png_format(tmp_path):
    voc = write_voc(tmp_path)
    png = Image.open(voc / "SegmentationClass" / f"{VOC_TRAIN[0]}.png")
    assert png.mode == "P" and png.getpalette()[:6] == [0, 0, 0, 128, 0, 0]
    assert Image.open(voc / "JPEGImages" / f"{VOC_TRAIN[0]}.jpg").format == "JPEG"


@pytest.mark.parametrize("where", ["", "VOCdevkit", "VOCdevkit/VOC2012"])
def test_voc_splits_classes_and_palette_indices(tmp_path, where):
    voc = write_voc(tmp_path)
    root = tmp_path / where
    sizes = {split: len(segzoo.create_dataset("voc2012", root, split)) for split in ("train", "val", "trainval")}
    assert sizes == {"train": 3, "val": 2, "trainval": 5}
    ds = segzoo.create_dataset("voc2012", root, "train")
    assert ds.root == voc and ds.num_classes == 21 and ds.classes[15] == "person" and ds.classes[20] == "tvmonitor"
    assert [c for rgb in ds.palette for c in rgb] == voc_devkit_colormap()[:63]
    for i, ident in enumerate(VOC_TRAIN):
        image, mask = ds[i]
        expected, cls = voc_label(ident)
        assert image.mode == "RGB" and mask.mode == "L"
        assert torch.equal(tensor(mask), tensor(expected))  # palette indices, not gray levels
        assert set(tensor(mask).unique().tolist()) == {0, cls, 255}
    _, mask = ds[0]
    picture = ds.colorize(mask)  # borders in VOC's (224, 224, 192), as the palette PNGs show them
    assert picture.getpixel((6, 4)) == (224, 224, 192) and picture.getpixel((0, 0)) == (0, 0, 0)
    assert picture.tobytes() == Image.open(ds.files[0][1]).convert("RGB").tobytes()
    assert torch.equal(tensor(decode_colors(picture, ds.palette)), tensor(mask))
    assert torch.equal(tensor(decode_colors(colorize(mask, ds.palette, (9, 9, 9)), ds.palette)), tensor(mask))


def test_voc_augmented_train_uses_sbd_labels_and_drops_val_ids(tmp_path):
    voc = write_voc(tmp_path, sbd=True)
    ds = segzoo.create_dataset("voc2012", voc, "train", augmented=True)
    ids = [img.stem for img, _ in ds.files]
    assert ids == VOC_TRAIN + SBD_ONLY  # train.txt first, then the SBD list, de-duplicated, val removed
    assert ds.files[3][1].parent.name == "SegmentationClassAug" and ds.files[0][1].parent.name == "SegmentationClass"
    assert set(ds.verify()["pixels"]) <= set(range(21)) | {255}
    with pytest.raises(DatasetError, match="train"):
        segzoo.create_dataset("voc2012", voc, "val", augmented=True)
    (voc / "ImageSets" / "Segmentation" / "train_aug.txt").rename(voc / "ImageSets" / "Segmentation" / "aug.txt")
    assert len(segzoo.create_dataset("voc2012", voc, "train", augmented=True)) == 5  # MMSegmentation's name


def test_voc_errors_name_the_files(tmp_path):
    voc = write_voc(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="SegmentationClassAug"):
        segzoo.create_dataset("voc2012", voc, "train", augmented=True)
    (voc / "JPEGImages" / f"{VOC_VAL[1]}.jpg").unlink()
    with pytest.raises(PairingError, match=rf"1 of 2 listed images are missing .*{VOC_VAL[1]}\.jpg"):
        segzoo.create_dataset("voc2012", voc, "val")
    png = Image.open(voc / "SegmentationClass" / f"{VOC_TRAIN[1]}.png")
    png.putpixel((0, 0), 21)
    png.save(voc / "SegmentationClass" / f"{VOC_TRAIN[1]}.png")
    ds = segzoo.create_dataset("voc2012", voc, "train")
    ds[0]
    with pytest.raises(MaskValueError, match=rf"{VOC_TRAIN[1]}\.png: mask values 21 \(1 pixels\)"):
        ds[1]
    (voc / "ImageSets" / "Segmentation" / "train.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"train\.txt.*\n.*\n(.*\n)*.*host\.robots\.ox\.ac\.uk"):
        segzoo.create_dataset("voc2012", voc, "train")


# -- ADE20K ----------------------------------------------------------------------------------------------------------
def write_ade(tmp_path, n_train=3, n_val=2):
    """ADEChallengeData2016/{images,annotations}/{training,validation}/ADE_*_%08d.{jpg,png}, labels 0..150."""
    root = tmp_path / "ADEChallengeData2016"
    scenes = []
    for split, prefix, n in (("training", "ADE_train", n_train), ("validation", "ADE_val", n_val)):
        (root / "images" / split).mkdir(parents=True)
        (root / "annotations" / split).mkdir(parents=True)
        for i in range(1, n + 1):
            name = f"{prefix}_{i:08d}"
            noise(48, 32, i).save(root / "images" / split / f"{name}.jpg", quality=90)
            label = Image.new("L", (48, 32), 0)
            label.paste(1, (0, 0, 24, 16))
            label.paste(150, (24, 16, 48, 32))
            label.paste(i * 10, (0, 16, 24, 32))
            label.save(root / "annotations" / split / f"{name}.png")
            scenes.append(f"{name} airport_terminal\n")
    (root / "sceneCategories.txt").write_text("".join(scenes))
    return root


def test_ade20k_layout_and_reduce_zero_label(tmp_path):
    root = write_ade(tmp_path)
    ds = segzoo.create_dataset("ade20k", tmp_path, "train")  # the parent folder is accepted
    assert ds.root == root and len(ds) == 3 and len(segzoo.create_dataset("ade20k", root, "val")) == 2
    assert ds.num_classes == 150 and ds.classes[0] == "wall" and ds.classes[149] == "flag"
    assert ds.files[0][0].name == "ADE_train_00000001.jpg" and ds.files[0][1].name == "ADE_train_00000001.png"
    raw = tensor(Image.open(ds.files[0][1]))
    _, mask = ds[0]
    ours = tensor(mask)
    assert (ours[raw == 0] == 255).all() and torch.equal(ours[raw > 0], raw[raw > 0] - 1)
    assert set(ours.unique().tolist()) == {0, 9, 149, 255}
    full = segzoo.create_dataset("ade20k", root, "train", reduce_zero_label=False)
    assert full.num_classes == 151 and full.classes[0] == "other" and full.palette[1] == ds.palette[0]
    assert torch.equal(tensor(full[0][1]), raw)


def test_ade20k_bad_value_and_missing_split(tmp_path):
    root = write_ade(tmp_path)
    bad = Image.open(root / "annotations" / "training" / "ADE_train_00000002.png")
    bad.putpixel((1, 1), 151)
    bad.putpixel((2, 1), 200)
    bad.save(root / "annotations" / "training" / "ADE_train_00000002.png")
    ds = segzoo.create_dataset("ade20k", root, "train")
    with pytest.raises(MaskValueError, match=r"ADE_train_00000002\.png: mask values 151, 200 \(2 pixels\)"):
        ds[1]
    with pytest.raises(DatasetError, match=r"1 of 3 samples.*\n.*ADE_train_00000002"):
        ds.verify()
    assert 255 in tensor(segzoo.create_dataset("ade20k", root, "train", check_values=False)[1][1]).tolist()[1]
    import shutil

    shutil.rmtree(root / "annotations" / "validation")
    with pytest.raises(DatasetNotFoundError, match=r"(?s)annotations/validation.*sceneparsing"):
        segzoo.create_dataset("ade20k", root, "val")


# -- folder ----------------------------------------------------------------------------------------------------------
def write_pairs(image_dir, mask_dir, names, *, mask_suffix=".png", value=255):
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        noise(16, 12, i).save(image_dir / f"{name}.jpg")
        mask = Image.new("L", (16, 12), 0)
        mask.paste(value, (0, 0, 8, 12))
        mask.save(mask_dir / f"{name}{mask_suffix}")


def test_folder_layouts_label_map_and_suffixes(tmp_path):
    write_pairs(tmp_path / "flat" / "images", tmp_path / "flat" / "masks", ["a", "b", "c"], value=1)
    ds = segzoo.create_dataset("folder", tmp_path / "flat", None, classes=["bg", "fg"])
    assert len(ds) == 3 and ds.num_classes == 2 and len(ds.palette) == 2 and ds.split is None
    assert set(tensor(ds[0][1]).unique().tolist()) == {0, 1}
    (tmp_path / "flat" / "val.txt").write_text("b\nc\n")
    assert [
        p.stem for p, _ in segzoo.create_dataset("folder", tmp_path / "flat", "val", classes=["bg", "fg"]).files
    ] == ["b", "c"]

    write_pairs(tmp_path / "a" / "train" / "images", tmp_path / "a" / "train" / "masks", ["x1", "x2"])
    binary = segzoo.create_dataset(
        "folder",
        tmp_path / "a",
        "train",
        classes=["bg", "fg"],
        label_map={255: 1},
        ignore_index=None,
        transform=T.ToTensor(),
    )
    image, target = binary[1]
    assert image.shape == (3, 12, 16) and set(target.unique().tolist()) == {0, 1}

    write_pairs(
        tmp_path / "b" / "img" / "val", tmp_path / "b" / "lbl" / "val", ["p", "q"], mask_suffix="_mask.png", value=2
    )
    ds = segzoo.create_dataset(
        "folder",
        tmp_path / "b",
        "val",
        classes=["a", "b", "c"],
        image_dir="img",
        mask_dir="lbl",
        image_suffix=".jpg",
        mask_suffix="_mask.png",
        palette=[[1, 2, 3]] * 3,
    )
    assert len(ds) == 2 and ds.palette == [[1, 2, 3]] * 3
    with pytest.raises(DatasetNotFoundError, match="looked for"):
        segzoo.create_dataset("folder", tmp_path / "b", "test", classes=["a"])
    with pytest.raises(DatasetError, match="classes"):
        segzoo.create_dataset("folder", tmp_path / "b", "val", classes=[])


def test_folder_rejects_colour_masks_with_a_hint(tmp_path):
    write_pairs(tmp_path / "images", tmp_path / "masks", ["a"])
    Image.new("RGB", (16, 12), (200, 0, 0)).save(tmp_path / "masks" / "a.png")
    ds = segzoo.create_dataset("folder", tmp_path, None, classes=["x", "y"])
    with pytest.raises(MaskValueError, match=r"a\.png is a colour \(RGB\) image.*decode_colors"):
        ds[0]
    Image.new("RGB", (16, 12), (1, 1, 1)).save(tmp_path / "masks" / "a.png")  # gray saved as RGB is fine
    assert tensor(ds[0][1]).eq(1).all()


# -- shapes ----------------------------------------------------------------------------------------------------------
def test_shapes_is_deterministic_and_in_range():
    a = segzoo.create_dataset("shapes", None, "train", length=8, size=(48, 64), num_classes=5, seed=3)
    b = segzoo.create_dataset("shapes", None, "train", length=8, size=(48, 64), num_classes=5, seed=3)
    assert len(a) == 8 and a.num_classes == 5 and a.files == []
    assert a.classes == ["background", "circle_1", "rectangle_1", "circle_2", "rectangle_2"]
    torch.manual_seed(0)
    x = a[5]
    torch.manual_seed(1)
    y = b[5]  # independent of the global RNG
    assert x[0].tobytes() == y[0].tobytes() and x[1].tobytes() == y[1].tobytes()
    assert x[0].size == (64, 48)
    other_seed = segzoo.create_dataset("shapes", None, "train", length=8, size=(48, 64), num_classes=5, seed=4)
    other_split = segzoo.create_dataset("shapes", None, "val", length=8, size=(48, 64), num_classes=5, seed=3)
    assert other_seed[5][1].tobytes() != x[1].tobytes() and other_split[5][1].tobytes() != x[1].tobytes()
    counts = a.verify()["pixels"]
    assert set(counts) <= set(range(5)) and counts[0] > 0 and len(counts) > 2
    with pytest.raises(IndexError):
        a[8]
    loader = torch.utils.data.DataLoader(
        segzoo.create_dataset("shapes", None, length=4, size=32, transform=T.Compose([T.ToTensor(), T.Normalize()])),
        batch_size=2,
    )
    images, masks = next(iter(loader))
    assert images.shape == (2, 3, 32, 32) and masks.shape == (2, 32, 32) and masks.dtype == torch.int64


def test_shapes_image_colours_follow_the_mask():
    ds = segzoo.create_dataset("shapes", None, length=4, size=64, noise=0.0)
    image, mask = ds[0]
    img, m = pil_to_tensor(image), tensor(mask)
    for k in m.unique().tolist():
        if k:
            assert (img[m == k] == torch.tensor(ds.palette[k], dtype=torch.uint8)).all()
