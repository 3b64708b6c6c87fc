"""docs/zoo.md from registry.json: every catalog entry by family and dataset, with its published metric.

    python scripts/catalog_page.py            # rewrite docs/zoo.md
    python scripts/catalog_page.py --check    # exit 1 if docs/zoo.md is not what registry.json gives

scripts/generate_mmseg_catalog.py calls :func:`render_page` too, so the page follows every regeneration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "zoo.md"

FAMILY_TITLES = {
    "fcn": "FCN",
    "pspnet": "PSPNet",
    "deeplabv3": "DeepLabV3",
    "deeplabv3plus": "DeepLabV3+",
    "upernet": "UPerNet",
    "hrnet": "HRNet (FCN head)",
    "ocrnet": "OCRNet",
    "unet": "U-Net",
    "segformer": "SegFormer",
    "lraspp": "LR-ASPP",
    "segnet": "SegNet",
    "fpn": "FPN",
}
METRIC_ORDER = ("mIoU", "mIoU(ms+flip)", "mDice", "Dice", "pixel_accuracy")


def family(entry: dict[str, Any]) -> str:
    """mmseg entries by their mmseg config folder (HRNet's FCN models apart from FCN's); others by architecture (both
    U-Net architectures under U-Net, as mmseg's own U-Nets are)."""
    config = entry.get("upstream", {}).get("config")
    if config:
        return config.split("/")[1]
    return "unet" if entry["architecture"] == "unet-original" else entry["architecture"]


def dataset(entry: dict[str, Any]) -> str:
    return entry["dataset"].get("name") or entry["dataset"]["eval"]


def _metrics(values: dict[str, float]) -> str:
    keys = [k for k in METRIC_ORDER if k in values] + sorted(k for k in values if k not in METRIC_ORDER)
    return ", ".join(f"{k} {values[k]}" for k in keys)


def _training(entry: dict[str, Any]) -> str:
    t = entry.get("training")
    if not t:
        return ""
    crop = f"{t['crop_size'][0]}x{t['crop_size'][1]}, " if "crop_size" in t else ""
    its = t["iterations"]
    return f"{crop}{f'{its // 1000}k' if its % 1000 == 0 else its} it, batch {t['batch_size']}"


def _split(entry: dict[str, Any]) -> str:
    """The split the published metrics were measured on: a cross-validation estimate is not a test score."""
    cv = entry["metrics"].get("cross_validation")
    if cv:
        return f"{cv['folds']}-fold cross-validation on `{cv['split']}`"
    split = entry["dataset"].get("eval_split", "")
    return f"`{split}`" if split else ""


def _source(entry: dict[str, Any]) -> str:
    weights = entry["weights"]
    if weights["format"] == "mmseg":
        return f"[mmseg]({weights['url']})"
    if "hub" in weights:
        return f"{weights['format']}, Hub `{weights['hub']['repo_id']}`"
    return f"[{weights['format']}]({weights['url']})"


def render_page(models: list[dict[str, Any]]) -> str:
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for entry in models:
        groups[family(entry)][dataset(entry)].append(entry)
    lines = [
        "# The model zoo",
        "",
        "Generated from [`registry.json`](../registry.json) by `scripts/catalog_page.py` (and by "
        "`scripts/generate_mmseg_catalog.py`); a test checks that it is up to date. Metrics are the published ones "
        "(`segzoo info NAME` gives their source and protocol); `segzoo eval NAME --dataset D --root R` measures them "
        'with the entry\'s own protocol, on the split in the "measured on" column (a cross-validation estimate '
        "over `train`, such as the first-party DRIVE U-Net's, is not the test score the other entries of its table "
        "report), for the datasets segzoo reads (`segzoo.list_datasets()`: torchvision's COCO `val2017` entries, "
        "measured on COCO images of the 20 Pascal VOC categories, and the Mapillary Vistas entry have none). "
        "[mmseg.md](mmseg.md) explains the mmsegmentation entries.",
        "",
        f"{len(models)} models:",
        "",
    ]
    order = sorted(groups, key=lambda f: FAMILY_TITLES.get(f, f).lower())
    anchors: list[str] = []
    for f in order:  # GitHub's heading ids: "DeepLabV3+" is "deeplabv3" again, so it gets "-1"
        anchor = _anchor(FAMILY_TITLES.get(f, f))
        anchors.append(anchor if anchor not in anchors else f"{anchor}-{anchors.count(anchor)}")
    lines += [
        f"- [{FAMILY_TITLES.get(f, f)}](#{a}): {sum(len(v) for v in groups[f].values())}"
        for f, a in zip(order, anchors)
    ]
    for fam in order:
        lines += ["", f"## {FAMILY_TITLES.get(fam, fam)}"]
        for ds in sorted(groups[fam]):
            lines += [
                "",
                f"### {ds}",
                "",
                "| name | encoder | training | published | measured on | weights |",
                "|---|---|---|---|---|---|",
            ]
            for e in sorted(groups[fam][ds], key=lambda e: e["name"]):
                lines.append(
                    f"| `{e['name']}` | `{e['encoder']}` | {_training(e)} | {_metrics(e['metrics']['values'])}"
                    f" | {_split(e)} | {_source(e)} |"
                )
    return "\n".join(lines) + "\n"


def _anchor(title: str) -> str:
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registry", type=Path, default=ROOT / "registry.json")
    parser.add_argument("--out", type=Path, default=PAGE)
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is not up to date")
    args = parser.parse_args(argv)
    text = render_page(json.loads(args.registry.read_text(encoding="utf-8"))["models"])
    if args.check:
        if not args.out.is_file() or args.out.read_text(encoding="utf-8") != text:
            print(f"{args.out} is not up to date; run python scripts/catalog_page.py")
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
