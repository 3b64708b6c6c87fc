"""STARE, CHASE_DB1 and HRF (and DRIVE's mmseg layout) from tiny trees in tmp_path, original and mmseg-converted."""

import pytest
import torch
from PIL import Image

import segzoo
from segzoo.data import DatasetError, DatasetNotFoundError, MaskValueError, PairingError
from segzoo.data.transforms import pil_to_tensor

W, H = 12, 8


def image(seed: int) -> Image.Image:
    g = torch.Generator().manual_seed(seed)
    return Image.frombytes(
        "RGB", (W, H), torch.randint(0, 256, (H, W, 3), generator=g, dtype=torch.uint8).numpy().tobytes()
    )


def label(values: tuple[int, ...], mode: str = "L") -> Image.Image:
    """Columns of ``values`` repeated across the width (``W`` columns, cycling)."""
    row = bytes(values[i % len(values)] for i in range(W))
    mask = Image.frombytes("L", (W, H), row * H)
    return mask.convert(mode)


def ids(mask: Image.Image) -> list[int]:
    return pil_to_tensor(mask).reshape(H, W).tolist()


# -- STARE ---------------------------------------------------------------------------------------------------------
STARE_IDS = [
    "im0001",
    "im0002",
    "im0003",
    "im0004",
    "im0005",
    "im0044",
    "im0077",
    "im0081",
    "im0082",
    "im0139",
    "im0162",
    "im0163",
    "im0235",
    "im0236",
    "im0239",
    "im0240",
    "im0255",
    "im0291",
    "im0319",
    "im0324",
]


def write_stare_original(root):
    for folder in ("stare-images", "labels-ah", "labels-vk"):
        (root / folder).mkdir(parents=True)
    for i, ident in enumerate(STARE_IDS):
        image(i).save(root / "stare-images" / f"{ident}.ppm")
        label((0, 255), "RGB").save(root / "labels-ah" / f"{ident}.ah.ppm")  # the release's labels are RGB PPM
        label((0, 100, 200, 255), "RGB").save(root / "labels-vk" / f"{ident}.vk.ppm")
    image(99).save(root / "stare-images" / "im0400.ppm")  # unlabelled STARE image: not part of the dataset


def test_stare_original_layout_split_and_annotators(tmp_path):
    write_stare_original(tmp_path / "STARE")
    train = segzoo.create_dataset("stare", tmp_path, "train")  # the folder holding STARE/ is accepted
    val = segzoo.create_dataset("stare", tmp_path / "STARE", "test")
    assert [p.stem for p, _ in train.files] == STARE_IDS[:10]  # mmseg's split: sorted names, first 10
    assert [p.stem for p, _ in val.files] == STARE_IDS[10:]
    image_, mask = train.load_pair(0)
    assert image_.size == mask.size == (W, H) and train.classes == ["background", "vessel"]
    assert ids(mask)[0][:4] == [0, 1, 0, 1]
    vk = segzoo.create_dataset("stare", tmp_path, "test", annotator="vk")
    assert vk.files[0][1].name == "im0162.vk.ppm"
    assert ids(vk.load_mask(0))[0][:4] == [0, 0, 1, 1]  # thresholded at 128, as mmseg's converter does


def test_stare_mmseg_layout(tmp_path):
    for sub, idents in (("training", STARE_IDS[:2]), ("validation", STARE_IDS[10:13])):
        (tmp_path / "images" / sub).mkdir(parents=True)
        (tmp_path / "annotations" / sub).mkdir(parents=True)
        for i, ident in enumerate(idents):
            image(i).save(tmp_path / "images" / sub / f"{ident}.png")
            label((0, 1)).save(tmp_path / "annotations" / sub / f"{ident}.ah.png")
            label((1, 0)).save(tmp_path / "annotations" / sub / f"{ident}.vk.png")
    ds = segzoo.create_dataset("stare", tmp_path, "test")
    assert len(ds) == 3 and ids(ds.load_mask(0))[0][:2] == [0, 1]
    assert ids(segzoo.create_dataset("stare", tmp_path, "test", annotator="vk").load_mask(0))[0][:2] == [1, 0]
    label((0, 255)).save(tmp_path / "annotations" / "training" / f"{STARE_IDS[0]}.ah.png")
    with pytest.raises(MaskValueError, match=r"255.*0 background, 1 vessel"):
        segzoo.create_dataset("stare", tmp_path, "train").load_mask(0)


def test_stare_errors(tmp_path):
    write_stare_original(tmp_path)
    (tmp_path / "labels-ah" / "im0005.ah.ppm").unlink()
    with pytest.raises(PairingError, match="expected the 20 labelled images.*found 19"):
        segzoo.create_dataset("stare", tmp_path, "train")
    (tmp_path / "stare-images" / "im0004.ppm").unlink()
    with pytest.raises(PairingError, match="im0004.ah.ppm"):  # a label whose image is missing is named
        segzoo.create_dataset("stare", tmp_path, "train")
    with pytest.raises(DatasetError, match="annotator must be 'ah'"):
        segzoo.create_dataset("stare", tmp_path, "train", annotator="xx")
    packed = tmp_path / "packed"
    (packed / "stare-images").mkdir(parents=True)
    (packed / "labels-ah").mkdir()
    (packed / "stare-images" / "im0001.ppm.gz").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match="gunzip"):
        segzoo.create_dataset("stare", packed, "train")


# -- CHASE_DB1 -----------------------------------------------------------------------------------------------------
CHASE_IDS = [f"Image_{n:02d}{side}" for n in range(1, 15) for side in "LR"]


def write_chase_original(root):
    root.mkdir(parents=True)
    for i, ident in enumerate(CHASE_IDS):
        image(i).save(root / f"{ident}.jpg")
        label((0, 255)).save(root / f"{ident}_1stHO.png")
        label((255, 0)).save(root / f"{ident}_2ndHO.png")


def test_chase_db1_original_layout(tmp_path):
    write_chase_original(tmp_path / "CHASEDB1")
    train = segzoo.create_dataset("chase_db1", tmp_path, "train")
    val = segzoo.create_dataset("chase_db1", tmp_path, "test", annotator=2)
    assert [p.stem for p, _ in train.files] == CHASE_IDS[:20]  # 01L..10R, mmseg's first 60 of 84 sorted files
    assert [p.stem for p, _ in val.files] == CHASE_IDS[20:]
    assert ids(train.load_mask(0))[0][:2] == [0, 1] and ids(val.load_mask(0))[0][:2] == [1, 0]
    assert val.files[0][1].name == "Image_11L_2ndHO.png"
    (tmp_path / "CHASEDB1" / "Image_03R_1stHO.png").unlink()
    with pytest.raises(PairingError, match="Image_03R.jpg"):
        segzoo.create_dataset("chase_db1", tmp_path, "train")


def test_chase_db1_mmseg_layout(tmp_path):
    (tmp_path / "images" / "training").mkdir(parents=True)
    (tmp_path / "annotations" / "training").mkdir(parents=True)
    image(0).save(tmp_path / "images" / "training" / "Image_01L.png")
    label((1, 1, 0)).save(tmp_path / "annotations" / "training" / "Image_01L_1stHO.png")
    label((0, 0, 1)).save(tmp_path / "annotations" / "training" / "Image_01L_2ndHO.png")
    ds = segzoo.create_dataset("chase_db1", tmp_path, "train")
    assert len(ds) == 1 and ids(ds.load_mask(0))[0][:3] == [1, 1, 0]
    with pytest.raises(DatasetNotFoundError, match="annotations/validation"):
        (tmp_path / "images" / "validation").mkdir()
        segzoo.create_dataset("chase_db1", tmp_path, "test")


# -- HRF -----------------------------------------------------------------------------------------------------------
def write_hrf_original(root):
    (root / "images").mkdir(parents=True)
    (root / "manual1").mkdir()
    (root / "mask").mkdir()
    for n in range(1, 16):
        for i, group in enumerate(("dr", "g", "h")):
            suffix = ".JPG" if group == "dr" else ".jpg"  # as in the release
            image(n * 3 + i).save(root / "images" / f"{n:02d}_{group}{suffix}", format="JPEG")
            label((0, 255)).save(root / "manual1" / f"{n:02d}_{group}.tif")
            label((255,)).save(root / "mask" / f"{n:02d}_{group}_mask.tif")


def test_hrf_original_layout(tmp_path):
    write_hrf_original(tmp_path / "HRF")
    train = segzoo.create_dataset("hrf", tmp_path, "train")
    val = segzoo.create_dataset("hrf", tmp_path, "test")
    assert len(train) == 15 and len(val) == 30  # images 01-05 of each group train, as mmseg converts each zip
    assert [p.name for p, _ in train.files[:3]] == ["01_dr.JPG", "01_g.jpg", "01_h.jpg"]
    assert {int(p.name[:2]) for p, _ in val.files} == set(range(6, 16))
    image_, mask = val.load_pair(0)
    assert image_.size == mask.size and ids(mask)[0][:2] == [0, 1]
    (tmp_path / "HRF" / "images" / "15_h.jpg").unlink()
    (tmp_path / "HRF" / "manual1" / "15_h.tif").unlink()
    with pytest.raises(PairingError, match="expected the 45"):
        segzoo.create_dataset("hrf", tmp_path, "test")


def test_hrf_mmseg_layout(tmp_path):
    for sub in ("training", "validation"):
        (tmp_path / "images" / sub).mkdir(parents=True)
        (tmp_path / "annotations" / sub).mkdir(parents=True)
    image(1).save(tmp_path / "images" / "validation" / "06_h.png")
    label((0, 1, 1)).save(tmp_path / "annotations" / "validation" / "06_h.png")
    ds = segzoo.create_dataset("hrf", tmp_path, "test")
    assert len(ds) == 1 and ids(ds.load_mask(0))[0][:3] == [0, 1, 1]
    with pytest.raises(PairingError, match="no images found"):
        segzoo.create_dataset("hrf", tmp_path, "train")


def test_registered_with_mmseg_splits():
    from segzoo import registry

    for name, sizes in (
        ("stare", {"train": 10, "test": 10}),
        ("chase_db1", {"train": 20, "test": 8}),
        ("hrf", {"train": 15, "test": 30}),
    ):
        entry = registry.get("datasets", name)
        assert entry.provider == "segzoo-datasets"
        meta = entry.metadata
        assert meta["sizes"] == sizes and meta["classes"] == ["background", "vessel"], name
        assert meta["homepage"].startswith("http") and meta["license"], name
    with pytest.raises(DatasetError, match="no split 'val'"):
        segzoo.create_dataset("stare", ".", "val")


# -- DRIVE, mmseg-converted --------------------------------------------------------------------------------------------
def test_drive_mmseg_layout_has_no_fov(tmp_path):
    root = tmp_path / "DRIVE"
    for sub, names in (("training", ["21", "22"]), ("validation", ["01"])):
        (root / "images" / sub).mkdir(parents=True)
        (root / "annotations" / sub).mkdir(parents=True)
        for i, n in enumerate(names):
            image(i).save(root / "images" / sub / f"{n}.png")
            label((0, 1)).save(root / "annotations" / sub / f"{n}_manual1.png")
    label((1, 1)).save(root / "annotations" / "validation" / "01_manual2.png")
    train = segzoo.create_dataset("drive", tmp_path, "train")  # FOV masking off by default: mmseg has no FOV
    assert [p.name for p, _ in train.files] == ["21.png", "22.png"] and not train.fov_as_ignore
    assert ids(train.load_mask(1))[0][:2] == [0, 1]
    assert ids(segzoo.create_dataset("drive", root, "test", annotator=2).load_mask(0))[0][:2] == [1, 1]
    with pytest.raises(DatasetError, match="no FOV masks; use fov_as_ignore=False"):
        segzoo.create_dataset("drive", root, "train", fov_as_ignore=True)
    with pytest.raises(DatasetError, match="no FOV masks"):
        train.fov(0)
