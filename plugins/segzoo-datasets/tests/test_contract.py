"""segzoo's plugin contract on every dataset segzoo-datasets registers: the real copies in shared/datasets (path from
SEGZOO_DATA; a dataset without data is checked for its registration only), the synthetic shapes, and the generic
folder dataset on a tiny generated tree."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from segzoo.testing import contract

DATA = Path(os.environ.get("SEGZOO_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "datasets"))
REAL = {
    "camvid": {"root": DATA / "camvid"},
    "drive": {"root": DATA / "drive"},
    "isbi2012": {"root": DATA / "isbi2012_membrane"},
    "cityscapes": {"root": DATA / "cityscapes_mmseg_sample", "split": "val"},
}


def two_class_folder(root: Path) -> Path:
    """``train/images/*.png`` and ``train/masks/*.png``: a square of class 1 outlined with void (255)."""
    for folder in ("images", "masks"):
        (root / "train" / folder).mkdir(parents=True)
    for i in range(2):
        Image.effect_noise((40, 30), 40 + i).convert("RGB").save(root / "train" / "images" / f"{i}.png")
        mask = Image.new("L", (40, 30), 0)
        mask.paste(255, (5, 5, 25, 25))
        mask.paste(1, (6, 6, 24, 24))
        mask.save(root / "train" / "masks" / f"{i}.png")
    return root


SETTINGS = {
    **{name: data for name, data in REAL.items() if data["root"].is_dir()},
    "shapes": {"root": lambda tmp: tmp},  # synthetic: any folder
    "folder": {"root": two_class_folder, "options": {"classes": ["background", "square"]}},
}


@contract.parametrize_with_checks("segzoo-datasets", settings=SETTINGS)
def test_contract(check):
    check()
