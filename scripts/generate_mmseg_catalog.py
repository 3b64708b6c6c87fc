"""Generate the mmsegmentation entries of registry.json from the installed mmseg's metafiles and configs.

    python scripts/generate_mmseg_catalog.py                # rewrite registry.json, docs/zoo.md, docs/mmseg-left-out.md
    python scripts/generate_mmseg_catalog.py --check        # exit 1 if any of them is not what the generator writes
    python scripts/generate_mmseg_catalog.py --out /tmp/r.json --families unet,segformer

Entries whose weights have ``"format": "mmseg"`` are the generator's: every run replaces them all and keeps every
other entry's text exactly as it is in the file. The structure of each model (architecture, encoder, options,
requires) comes from its family plugin's ``spec_from_mmseg(cfg.model)``; everything else from the metafile and the
config (see docs/mmseg.md). A family whose plugin has no mmseg module yet is reported as pending and skipped.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog_page import FAMILY_TITLES, render_page  # noqa: E402

from segzoo.testing.mmseg_parity import config_for  # noqa: E402

# mmseg config folder -> modules that may hold its spec_from_mmseg (the first importable one is used)
FAMILIES: dict[str, tuple[str, ...]] = {
    "fcn": ("segzoo_fcn.mmseg",),
    "pspnet": ("segzoo_pspnet.mmseg",),
    "deeplabv3": ("segzoo_deeplab.mmseg_deeplabv3", "segzoo_deeplab.mmseg"),
    "deeplabv3plus": ("segzoo_deeplab.mmseg_deeplabv3plus", "segzoo_deeplab.mmseg"),
    "upernet": ("segzoo_transformers.mmseg_upernet", "segzoo_upernet.mmseg", "segzoo_transformers.mmseg"),
    "hrnet": ("segzoo_hrnet.mmseg_hrnet", "segzoo_hrnet.mmseg"),
    "ocrnet": ("segzoo_ocrnet.mmseg", "segzoo_hrnet.mmseg_ocrnet"),
    "unet": ("segzoo_unet.mmseg",),
    "segformer": ("segzoo_transformers.mmseg_segformer", "segzoo_transformers.mmseg"),
}

NAME_FIXES = (("mapillay", "mapillary"),)  # spelling in config names, fixed in catalog names only

# mmseg dataset class -> (dataset name, training set, evaluation set, split evaluated)
DATASETS: dict[str, tuple[str, str, str, str]] = {
    "CityscapesDataset": ("Cityscapes", "Cityscapes train (gtFine, 2975 images)", "Cityscapes val (500 images)", "val"),
    "ADE20KDataset": ("ADE20K", "ADE20K train (20210 images)", "ADE20K val (2000 images)", "val"),
    "PascalVOCDataset": (
        "Pascal VOC 2012 + Aug",
        "Pascal VOC 2012 train + SBD aug (10582 images)",
        "Pascal VOC 2012 val (1449 images)",
        "val",
    ),
    "PascalContextDataset": (
        "Pascal Context",
        "Pascal Context train (4996 images, 60 classes)",
        "Pascal Context val (5104 images, 60 classes)",
        "val",
    ),
    "PascalContextDataset59": (
        "Pascal Context 59",
        "Pascal Context train (4996 images, 59 classes)",
        "Pascal Context val (5104 images, 59 classes)",
        "val",
    ),
    "COCOStuffDataset": ("COCO-Stuff", "COCO-Stuff train", "COCO-Stuff test/val", "val"),
    "LoveDADataset": ("LoveDA", "LoveDA train", "LoveDA val", "val"),
    "PotsdamDataset": ("Potsdam", "ISPRS Potsdam train (512x512 tiles)", "ISPRS Potsdam val (512x512 tiles)", "val"),
    "ISPRSDataset": (
        "Vaihingen",
        "ISPRS Vaihingen train (512x512 tiles)",
        "ISPRS Vaihingen val (512x512 tiles)",
        "val",
    ),
    "iSAIDDataset": ("iSAID", "iSAID train (896x896 tiles)", "iSAID val (896x896 tiles)", "val"),
    "MapillaryDataset_v1": (
        "Mapillary Vistas v1.2",
        "Mapillary Vistas train (v1.2 labels, 65 classes)",
        "Mapillary Vistas val (v1.2 labels)",
        "val",
    ),
    "DRIVEDataset": ("DRIVE", "DRIVE training (20 images)", "DRIVE test (20 images)", "test"),
    "STAREDataset": ("STARE", "STARE (first 10 images)", "STARE (last 10 images)", "test"),
    "ChaseDB1Dataset": ("CHASE_DB1", "CHASE_DB1 (first 20 images)", "CHASE_DB1 (last 8 images)", "test"),
    "HRFDataset": ("HRF", "HRF (first 15 images)", "HRF (last 30 images)", "test"),
}
#: dataset options under which segzoo's dataset scores as mmseg does: its DRIVE counts every pixel, FOV or not
EVAL_OPTIONS = {"DRIVE": {"fov_as_ignore": False}}


def eval_options(dataset: str) -> dict[str, Any]:
    return {"eval_options": EVAL_OPTIONS[dataset]} if dataset in EVAL_OPTIONS else {}


COCO_STUFF = {
    "test2014": ("COCO-Stuff 10k", "COCO-Stuff 10k train (9000 images)", "COCO-Stuff 10k test (1000 images)", "test"),
    "val2017": ("COCO-Stuff 164k", "COCO-Stuff 164k train2017", "COCO-Stuff 164k val2017 (5000 images)", "val"),
}

MS_FLIP = "scales 0.5, 0.75, 1.0, 1.25, 1.5, 1.75 of the test size, with horizontal flips"


@dataclass
class Result:
    """What one run produced: the entries, and the models it could not write, with why."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    left_out: list[tuple[str, str, str]] = field(default_factory=list)  # (family, mmseg name, reason)
    pending: dict[str, int] = field(default_factory=dict)  # family -> models waiting for its spec_from_mmseg


# -- reading mmseg ---------------------------------------------------------------------------------------------------
def mmseg_root() -> Path:
    from segzoo.testing.mmseg import config_path

    return config_path("fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024").parent.parent


def mmseg_version() -> str:
    from importlib.metadata import version

    return version("mmsegmentation")


def metafile_models(family: str) -> list[dict[str, Any]]:
    import yaml

    data = yaml.safe_load((mmseg_root() / family / "metafile.yaml").read_text())
    return [m for m in data["Models"] if m.get("Weights")]


def spec_function(family: str):
    """The family's ``spec_from_mmseg``, or None while no installed plugin provides it."""
    for module_name in FAMILIES[family]:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):
                continue  # the module (or its plugin) does not exist yet
            raise
        fn = getattr(module, "spec_from_mmseg", None)
        if fn is not None:
            return fn
    return None


def sha_prefix(url: str) -> str:
    match = re.search(r"[-_]([0-9a-f]{8})\.pth$", url)
    if not match:
        raise ValueError(f"weights URL {url} does not end in _<8 hex>.pth")
    return match.group(1)


def config_name(model: dict[str, Any]) -> str:
    """``family/config`` (without .py) of a metafile model, with mmseg's metafile mistakes corrected
    (:data:`segzoo.testing.mmseg_parity.CONFIG_CORRECTIONS`: the one table the parity tests use too)."""
    path = config_for(model)
    return f"{path.parent.name}/{path.stem}"


def catalog_name(config: str, *, keep_gpus: bool = False) -> str:
    """``pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024`` -> ``pspnet-r50-d8-40k-cityscapes-512x1024``;
    ``hrnet/fcn_hr18_...`` -> ``hrnet-fcn-hr18-...`` (names start with their family); ``keep_gpus`` keeps the
    ``<gpus>xb<batch>`` part, for configs that differ only there."""
    family, name = config.split("/")
    if not keep_gpus:
        name = re.sub(r"_\d+xb\d+-", "_", name)
    name = name.replace("_", "-").lower()
    for wrong, right in NAME_FIXES:
        name = name.replace(wrong, right)
    return name if name.startswith(family) else f"{family}-{name}"


def _pair(value: Any) -> list[int]:
    if isinstance(value, int):
        return [value, value]
    return [int(v) for v in value]


def _last_head(model_cfg: dict[str, Any]) -> dict[str, Any]:
    head = model_cfg["decode_head"]
    return head[-1] if isinstance(head, list) else head


def dataset_facts(cfg) -> tuple[tuple[str, str, str, str], dict[str, Any]]:
    """(names, preprocessing) from the test dataloader: classes' METAINFO, test resize, label handling."""
    import mmseg.datasets

    test = cfg.test_dataloader.dataset
    names = DATASETS.get(test.type)
    if names is None:
        raise ValueError(f"dataset {test.type} is not described in the generator's DATASETS table")
    if test.type == "COCOStuffDataset":
        names = COCO_STUFF[test.data_prefix["img_path"].split("/")[-1]]
    dataset_cls = getattr(mmseg.datasets, test.type)
    defaults = {k: p.default for k, p in inspect.signature(dataset_cls.__init__).parameters.items()}
    reduce_zero_label = bool(test.get("reduce_zero_label", defaults.get("reduce_zero_label", False)))
    resize = None
    for step in test.pipeline:
        if step["type"] == "LoadAnnotations" and "reduce_zero_label" in step:
            reduce_zero_label = bool(step["reduce_zero_label"])
        if step["type"] == "Resize":
            if not step.get("keep_ratio", False):
                raise ValueError("test resize without keep_ratio")
            long_side, short_side = max(step["scale"]), min(step["scale"])
            resize = {"max_long_side": int(long_side), "max_short_side": int(short_side)}
    pre = cfg.model.data_preprocessor
    if not pre.get("bgr_to_rgb", False):
        raise ValueError("data preprocessor without bgr_to_rgb (mean/std in BGR order)")
    preprocessing: dict[str, Any] = {
        "mean": [round(v / 255, 6) for v in pre["mean"]],
        "std": [round(v / 255, 6) for v in pre["std"]],
    }
    if resize:
        preprocessing["resize"] = resize
    preprocessing.update(
        interpolation="bilinear",
        ignore_index=int(defaults.get("ignore_index", 255)),
        reduce_zero_label=reduce_zero_label,
    )
    return names, preprocessing


def metainfo(cfg) -> dict[str, Any]:
    """Classes and palette: the config's own ``metainfo`` (e.g. Mapillary's 65 of 66 classes), else the dataset's."""
    import mmseg.datasets

    test = cfg.test_dataloader.dataset
    return test.get("metainfo") or getattr(mmseg.datasets, test.type).METAINFO


def entry_for(
    family: str, model: dict[str, Any], config: str, name: str, spec: dict[str, Any], cfg, version: str
) -> dict[str, Any]:
    """One catalog entry, in the order the file shows its fields."""
    model_cfg = cfg.model.to_dict()
    head = _last_head(model_cfg)
    (dataset, train, evaluation, split), preprocessing = dataset_facts(cfg)
    info = metainfo(cfg)
    classes, palette = list(info["classes"]), [list(map(int, c)) for c in info["palette"]]
    num_classes = int(head["num_classes"])
    if num_classes != len(classes):
        raise ValueError(
            f"decode head predicts {num_classes} classes but {cfg.test_dataloader.dataset.type} names {len(classes)}"
        )
    test_cfg = model_cfg.get("test_cfg") or {}
    inference: dict[str, Any] = {"mode": test_cfg.get("mode", "whole")}
    if inference["mode"] == "slide":
        inference.update(crop=_pair(test_cfg["crop_size"]), stride=_pair(test_cfg["stride"]))
    elif inference["mode"] != "whole":
        raise ValueError(f"test mode {inference['mode']!r}")
    inference["align_corners"] = bool(head.get("align_corners", False))
    metrics = {k: float(v) for k, v in model["Results"]["Metrics"].items()}
    meta = model["Metadata"]
    crop = cfg.get("crop_size")
    training: dict[str, Any] = {"crop_size": _pair(crop)} if crop else {}
    training.update(iterations=int(cfg.train_cfg["max_iters"]), batch_size=int(meta["Batch Size"]))
    if meta.get("Training Resources"):
        training["resources"] = str(meta["Training Resources"])
    architecture = ", ".join(str(a) for a in meta.get("Architecture", []))
    resize = preprocessing.get("resize")
    test_size = (
        f"resized to fit {resize['max_long_side']}x{resize['max_short_side']} keeping the aspect ratio"
        if resize
        else "at its own size"
    )
    window = (
        f"sliding {inference['crop'][0]}x{inference['crop'][1]} windows every "
        f"{inference['stride'][0]}x{inference['stride'][1]} pixels"
        if inference["mode"] == "slide"
        else "whole image"
    )
    protocol = (
        f"{evaluation}, single scale, {window}, each image {test_size} (bilinear); logits resized "
        "to the label size, metrics over the split"
    )
    if any("ms+flip" in k for k in metrics):
        protocol += f"; ms+flip: {MS_FLIP}"
    crop_text = f"{training['crop_size'][0]}x{training['crop_size'][1]} crops, " if crop else ""
    entry: dict[str, Any] = {
        "name": name,
        "description": (
            f"{FAMILY_TITLES[family]} ({architecture}) from mmsegmentation, {config.split('/')[-1]}: "
            f"{train}, {crop_text}{training['iterations'] // 1000}k iterations of batch "
            f"{training['batch_size']}"
        ),
        "architecture": spec["architecture"],
        "encoder": spec["encoder"],
    }
    if spec.get("options"):
        entry["options"] = spec["options"]
    entry.update(
        requires=spec["requires"],
        num_classes=num_classes,
        class_names=classes,
        palette=palette,
        preprocessing=preprocessing,
        inference=inference,
        dataset={"name": dataset, "train": train, "eval": evaluation, "eval_split": split, **eval_options(dataset)},
        training=training,
        metrics={
            "values": metrics,
            "source": f"mmsegmentation {version}, configs/{family}/metafile.yaml, model {model['Name']} "
            f"(https://github.com/open-mmlab/mmsegmentation/blob/v{version}/configs/{family}/"
            "metafile.yaml)",
            "protocol": protocol,
        },
        license="Apache-2.0",
        paper={"title": str(model["Paper"]["Title"]), "url": str(model["Paper"]["URL"])},
        upstream={
            "library": "mmsegmentation",
            "version": version,
            "name": model["Name"],
            "config": f"configs/{config}.py",
        },
        weights={"format": "mmseg", "url": model["Weights"], "sha256": sha_prefix(model["Weights"])},
    )
    return entry


def generate(families: Iterable[str] = FAMILIES, *, log=print) -> Result:
    """Every checkpoint of ``families`` as a catalog entry (or a reason why not)."""
    from segzoo.testing.mmseg import load_config

    version = mmseg_version()
    result = Result()
    planned: list[tuple[str, dict, str]] = []
    for family in families:
        for model in metafile_models(family):
            planned.append((family, model, config_name(model)))
    configs = [c for _, _, c in planned]
    duplicates = sorted({c for c in configs if configs.count(c) > 1})
    if duplicates:
        raise SystemExit(f"the metafiles list these configs twice (add an erratum): {', '.join(duplicates)}")
    short = [catalog_name(c) for c in configs]
    for family, model, config in planned:
        name = catalog_name(config, keep_gpus=short.count(catalog_name(config)) > 1)
        spec_from_mmseg = spec_function(family)
        if spec_from_mmseg is None:
            result.pending[family] = result.pending.get(family, 0) + 1
            continue
        cfg = load_config(config)
        try:
            spec = spec_from_mmseg(cfg.model.to_dict())
            result.entries.append(entry_for(family, model, config, name, spec, cfg, version))
        except ValueError as err:
            result.left_out.append((family, config.split("/")[-1], str(err)))
    for family, count in result.pending.items():
        log(f"pending: {count} {family} models (no spec_from_mmseg in {' or '.join(FAMILIES[family])} yet)")
    return result


# -- writing ---------------------------------------------------------------------------------------------------------
def _scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)


def format_value(value: Any, indent: int) -> str:
    """registry.json's style: 2-space indents; lists of scalars (and lists of such lists) on one line."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}  {json.dumps(k)}: {format_value(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and (_scalar_list(value) or all(_scalar_list(v) for v in value)):
        return "[" + ", ".join(format_value(v, indent) for v in value) + "]"
    if isinstance(value, list):
        items = [f"{pad}  {format_value(v, indent + 2)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


def split_models(text: str) -> tuple[str, list[str], str]:
    """(text before the first entry, each entry's exact text, text after the last) of a registry.json."""
    start = text.index('"models"')
    start = text.index("[", start) + 1
    decoder = json.JSONDecoder()
    entries, pos = [], start
    head_end = None
    while True:
        while text[pos] in " \n\r\t,":
            pos += 1
        if text[pos] == "]":
            break
        if head_end is None:
            head_end = pos
        _, end = decoder.raw_decode(text, pos)
        entries.append(text[pos:end])
        pos = end
    if head_end is None:
        head_end = start
    return text[:head_end], entries, text[pos:]


def splice(text: str, generated: list[dict[str, Any]]) -> str:
    """``text`` with its mmseg entries replaced by ``generated`` (appended after the others, in order)."""
    head, entries, tail = split_models(text)
    kept = [e for e in entries if json.loads(e)["weights"].get("format") != "mmseg"]
    taken = {json.loads(e)["name"] for e in kept}
    clash = [e["name"] for e in generated if e["name"] in taken]
    if clash:
        raise SystemExit(f"generated names already taken by other entries: {', '.join(clash)}")
    body = kept + [format_value(e, 4) for e in generated]
    if not head.endswith("\n    "):
        head = head.rstrip() + "\n    "
    return head + ",\n    ".join(body) + ("\n  " + tail.lstrip() if not tail.startswith("\n") else tail)


def left_out_page(result: Result, version: str) -> str:
    lines = [
        "# mmsegmentation checkpoints left out of the catalog",
        "",
        f"Generated by `scripts/generate_mmseg_catalog.py` from mmsegmentation {version}: the checkpoints of the\n"
        "imported families that segzoo does not provide, and why ([mmseg.md](mmseg.md) explains the import).",
        "",
    ]
    if not result.left_out and not result.pending:
        lines.append("None: every checkpoint of the imported families is in the catalog.")
    if result.left_out:
        lines += ["| family | mmseg model | reason |", "|---|---|---|"]
        lines += [f"| {FAMILY_TITLES[f]} | `{n}` | {r} |" for f, n, r in result.left_out]
    if result.pending:
        lines += ["", "Families not generated yet (their plugin has no `spec_from_mmseg`):", ""]
        lines += [f"- {FAMILY_TITLES[f]}: {n} checkpoints" for f, n in result.pending.items()]
    return "\n".join(lines) + "\n"


def outputs(result: Result, registry_text: str, version: str) -> dict[str, str]:
    """What the generator writes: registry.json, the catalog page and the left-out page (relative path -> text)."""
    registry = splice(registry_text, result.entries)
    return {
        "registry.json": registry,
        "docs/zoo.md": render_page(json.loads(registry)["models"]),
        "docs/mmseg-left-out.md": left_out_page(result, version),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registry", type=Path, default=ROOT / "registry.json", help="the file to read")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the catalog here (default: over --registry); docs go next to it in docs/ only "
        "when writing the repository's own file",
    )
    parser.add_argument(
        "--families",
        default=",".join(FAMILIES),
        help=f"comma-separated mmseg config folders (default: all of {', '.join(FAMILIES)})",
    )
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")
    start = time.perf_counter()
    result = generate(families)
    texts = outputs(result, args.registry.read_text(encoding="utf-8"), mmseg_version())
    targets = {"registry.json": args.out or args.registry}
    if args.out is None and args.registry.resolve() == (ROOT / "registry.json").resolve():
        targets.update({k: ROOT / k for k in texts if k != "registry.json"})
    stale = []
    for key, path in targets.items():
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != texts[key]:
                stale.append(str(path))
        else:
            path.write_text(texts[key], encoding="utf-8")
    print(
        f"{len(result.entries)} mmseg entries, {len(result.left_out)} left out, "
        f"{sum(result.pending.values())} pending ({time.perf_counter() - start:.1f} s)"
    )
    if stale:
        print(f"not up to date: {', '.join(stale)}; run python scripts/generate_mmseg_catalog.py")
        return 1
    if not args.check:
        print(f"wrote {', '.join(str(p) for p in targets.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
