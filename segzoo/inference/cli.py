"""``segzoo predict`` and ``segzoo export``, plus the inference options shared with ``eval`` and ``bench``.

Imported by ``segzoo.cli`` to build the parser, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import segzoo
from segzoo._boundary import int_at_least
from segzoo._paths import check_writable
from segzoo._text import table
from segzoo.errors import SegzooError
from segzoo.inference.calibration import calibration_from_args
from segzoo.inference.defaults import DEFAULT_CALIBRATION_SIZE, DEFAULT_CALIBRATION_SPLIT

ENGINE_CHOICES = ("auto", "eager", "channels_last", "compile", "onnxruntime")


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        nums = [int(p) for p in parts if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}")
    return nums[0], nums[1]


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    """--engine, --precision, --device."""
    p.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default="auto",
        help="how the forward pass runs; auto = onnxruntime for fp32 on CPU when onnxruntime is installed and the "
        "model exports, else channels_last (folded BatchNorm + NHWC); int8 always runs on onnxruntime "
        "(see docs/benchmarking.md)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "int8"),
        default="fp32",
        help="bf16 runs under bfloat16 autocast (fast on CPUs with AMX/AVX512-BF16 and recent GPUs); "
        "int8 runs an onnxruntime statically quantized copy on CPU (needs calibration images)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")


def add_calibration_args(p: argparse.ArgumentParser, *, evaluates: bool = False) -> None:
    """--calibration-dataset/-root/-split/-size (and for eval/bench --calibrate-on-evaluated): int8's images."""
    g = p.add_argument_group("int8 calibration (with --precision int8)")
    same = " (default: --dataset)" if evaluates else ""
    g.add_argument(
        "--calibration-dataset",
        default=None,
        metavar="NAME",
        help=f"registered dataset whose images set the int8 activation ranges{same}",
    )
    g.add_argument(
        "--calibration-root",
        default=None,
        metavar="PATH",
        help="its folder" + (" (default: --root when it is the same dataset)" if evaluates else ""),
    )
    g.add_argument(
        "--calibration-split",
        default=None,
        metavar="SPLIT",
        help=f"its split (default: {DEFAULT_CALIBRATION_SPLIT}; never the evaluated images)",
    )
    g.add_argument(
        "--calibration-size",
        type=int_at_least(1),
        default=DEFAULT_CALIBRATION_SIZE,
        metavar="N",
        help=f"images, spread evenly over the split (default {DEFAULT_CALIBRATION_SIZE})",
    )
    if evaluates:
        g.add_argument(
            "--calibrate-on-evaluated",
            action="store_true",
            help="allow calibrating on the evaluated split itself (flatters the int8 accuracy)",
        )


def add_inference_args(p: argparse.ArgumentParser, *, evaluates: bool = False) -> None:
    """--mode, --crop, --stride, --scales, --flip, --no-resize, plus the runtime and int8 calibration options
    (``evaluates``: the command evaluates ``--dataset``, which calibration defaults to)."""
    g = p.add_argument_group("inference")
    g.add_argument(
        "--mode",
        choices=("whole", "slide", "msflip"),
        default=None,
        help="whole image (default), sliding window, or multi-scale (+flip) test-time augmentation; "
        "default: msflip when --scales/--flip is given, slide when --crop is given",
    )
    g.add_argument("--crop", type=_size, default=None, metavar="N|HxW", help="sliding-window size")
    g.add_argument(
        "--stride", type=_size, default=None, metavar="N|HxW", help="sliding-window step (default: 2/3 of the crop)"
    )
    g.add_argument(
        "--scales",
        type=_floats,
        default=None,
        metavar="S,S,...",
        help="msflip scales (default 0.5,0.75,1.0,1.25,1.5,1.75)",
    )
    g.add_argument("--flip", action="store_true", help="msflip: also average horizontally flipped passes")
    g.add_argument(
        "--resize",
        default=None,
        metavar="N|HxW",
        help="override the model's preprocessing resize: N = shorter side, HxW = exact size",
    )
    g.add_argument(
        "--no-resize",
        action="store_true",
        help="ignore the model's preprocessing resize (infer at each image's own size)",
    )
    add_runtime_args(g)
    add_calibration_args(p, evaluates=evaluates)


def settings_from_args(args: argparse.Namespace, batch_size: int = 1):
    from segzoo.inference.modes import MMSEG_SCALES, InferenceSettings

    mode = args.mode
    if mode is None:
        mode = "msflip" if (args.scales or args.flip) else "slide" if args.crop else "whole"
    if mode != "msflip" and (args.scales or args.flip):
        raise SegzooError(f"--scales and --flip apply to --mode msflip, not {mode}")
    return InferenceSettings(
        mode=mode,
        crop=args.crop,
        stride=args.stride,
        scales=list(args.scales or MMSEG_SCALES),
        flip=args.flip,
        slide=mode == "msflip" and args.crop is not None,
        batch_size=batch_size,
    )


def add_json_arg(p: argparse.ArgumentParser, what: str = "results") -> None:
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="PATH",
        help=f"write the {what} as JSON to PATH (no PATH: print JSON instead of the table)",
    )


def write_json(data: Any, target: str | None) -> None:
    text = json.dumps(data, indent=2, default=str)
    if target in (None, "-"):
        print(text)
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def preprocessing_from_args(model: Any, args: argparse.Namespace):
    return model.transforms(resize=not args.no_resize, override=args.resize)


def load_model(ref: str):
    return segzoo.load(ref)


# -- predict -------------------------------------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    from segzoo.inference.engine import Engine
    from segzoo.inference.predict import class_names_of, open_input, predict_image, resolve_palette, save_prediction

    settings = settings_from_args(args)
    paths = [Path(p) for p in args.images]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SegzooError(f"image(s) not found: {', '.join(missing[:5])}")
    for path in paths:
        open_input(path, decode=False)  # unreadable or oversized images fail now, not after loading the model
    check_writable(args.out, option="--out", directory=True)
    if args.json not in (None, "-"):
        check_writable(args.json, option="--json")
    model = load_model(args.model)
    pre = preprocessing_from_args(model, args)
    engine = Engine(
        model,
        args.engine,
        args.precision,
        args.device,
        copy=False,
        calibration=calibration_from_args(args),
        calibration_size=args.calibration_size,
        preprocessing=pre,
    )
    palette, source = resolve_palette(model, args.dataset)
    names = class_names_of(model, args.dataset)
    out_dir = Path(args.out)
    from tqdm.auto import tqdm

    results = []
    for path in tqdm(paths, desc="predict", unit="img", disable=args.no_progress or len(paths) < 2, leave=False):
        image = open_input(path)
        mask = predict_image(engine, image, pre, settings)
        results.append(save_prediction(path, mask, out_dir, palette, names, image=image, alpha=args.alpha))
    if args.json is not None:
        write_json(
            {
                "palette_source": source,
                "engine": engine.describe(),
                "settings": settings.as_dict(),
                "predictions": results,
            },
            args.json,
        )
        if args.json != "-":
            _print_predictions(results)
        return 0
    _print_predictions(results)
    return 0


def _print_predictions(results: list[dict]) -> None:
    rows = []
    for r in results:
        top = sorted(r["classes"].items(), key=lambda kv: -kv[1])[:3]
        rows.append([Path(r["image"]).name, r["mask"], r["overlay"], ", ".join(f"{k} {100 * v:.0f}%" for k, v in top)])
    print(table(rows, ["image", "mask", "overlay", "main classes"]))


# -- export --------------------------------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from segzoo.export import export_onnx

    if args.format != "onnx":
        raise SegzooError(f"unsupported export format {args.format!r}")
    out = args.out or f"{Path(str(args.model).rstrip('/')).name.replace(':', '_')}.onnx"
    check_writable(out, option="--out")
    if args.json not in (None, "-"):
        check_writable(args.json, option="--json")
    calibration = calibration_from_args(args)
    if calibration is not None and args.static:
        raise SegzooError("--precision int8 exports dynamic sizes only; leave out --static")
    model = load_model(args.model)
    if calibration is not None:
        return _export_int8(args, model, calibration, out)
    report = export_onnx(
        model,
        out,
        opset=args.opset,
        size=args.size,
        exporter=args.exporter,
        dynamic=not args.static,
        check=not args.no_check,
        tolerance=args.tolerance,
    )
    if args.json is not None:
        write_json(report, args.json)
        if args.json == "-":
            return 0
    axes = ", ".join(report["dynamic_axes"])
    print(
        f"wrote {report['path']} ({report['file_mb']} MiB, {report['exporter']} exporter, dynamic {axes}, "
        f"{report['export_seconds']} s)"
    )
    if report.get("input_divisor", 1) > 1 and "height" in report["dynamic_axes"]:
        print(
            f"  the graph takes heights and widths that are multiples of {report['input_divisor']} (recorded as its "
            "input_divisor metadata): zero-pad other inputs at the bottom and right and crop the logits back"
        )
    for c in report.get("checks", []):
        line = f"  onnxruntime vs eager at {'x'.join(map(str, c['size']))}: max |diff| {c['max_abs_diff']:.2e}"
        if "criterion" in c:
            line += (
                f"; {100 * c['within_tolerance']:.2f}% of logits within {args.tolerance:g}, "
                f"{100 * c['class_agreement']:.3f}% of pixels with the same class (a discontinuous model, "
                f"checked for {c['criterion']})"
            )
        print(line)
    return 0


def _export_int8(args: argparse.Namespace, model: Any, calibration: Any, out: str) -> int:
    """Copy the cached int8 file (built by the int8 engine, which also measures how far it moves the logits)."""
    import shutil

    from segzoo.inference.engine import Engine

    engine = Engine(
        model, "auto", "int8", "cpu", copy=False, calibration=calibration, calibration_size=args.calibration_size
    )
    info = dict(engine.int8 or {})
    shutil.copyfile(info["path"], out)
    seven_bit = ", 7-bit range: for CPUs without VNNI" if info.get("settings", {}).get("reduce_range") else ""
    report = {
        "path": str(out),
        "precision": "int8",
        "format": f"ONNX QDQ (int8 weights per channel{seven_bit}, uint8 activations)",
        "dynamic_axes": ["batch", "height", "width"],
        "file_mb": round(Path(out).stat().st_size / 2**20, 2),
        "probe_max_abs_diff": engine.max_abs_diff,
        **{k: v for k, v in info.items() if k != "path"},
    }
    if args.json is not None:
        write_json(report, args.json)
        if args.json == "-":
            return 0
    print(
        f"wrote {out} ({report['file_mb']} MiB, int8 QDQ, dynamic batch, height, width; calibrated on "
        f"{info.get('calibration_images')} images, {info.get('cache')} in the cache)"
    )
    print(
        f"  int8 vs fp32 on a calibration image: max |diff| {engine.max_abs_diff:.2e}, "
        f"{100 * info.get('argmax_agreement', float('nan')):.2f}% of pixels with the same class; fp32 kept for "
        f"{', '.join(info.get('fp32_nodes') or []) or 'nothing'}"
    )
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "predict",
        help="predict masks for images: palette mask PNGs and coloured overlays",
        description="Writes <stem>_mask.png (palette PNG, pixel value = class id) and "
        "<stem>_overlay.png (image blended with the class colours, with a legend).",
    )
    p.add_argument("model", help="catalog name, hf-hub:org/repo or a save_pretrained directory")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", default="predictions", help="output folder (default: predictions)")
    p.add_argument("--dataset", default=None, help="take class colours from this registered dataset")
    p.add_argument("--alpha", type=_fraction, default=0.5, help="overlay opacity of the mask colours (default 0.5)")
    p.add_argument("--no-progress", action="store_true")
    add_inference_args(p)
    add_json_arg(p, "predictions")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="export a model to ONNX (dynamic batch/height/width), checked by onnxruntime")
    p.add_argument("model", help="catalog name, hf-hub:org/repo or a save_pretrained directory")
    p.add_argument("--format", default="onnx", choices=("onnx",))
    p.add_argument("--out", default=None, help="output file (default: <model>.onnx)")
    p.add_argument("--opset", type=int_at_least(7), default=None, help="ONNX opset (default: the exporter's)")
    p.add_argument(
        "--size",
        type=_size,
        default=None,
        metavar="N|HxW",
        help="example input size (default 256; rounded up to the model's input divisor)",
    )
    p.add_argument("--exporter", choices=("auto", "dynamo", "torchscript"), default="auto")
    p.add_argument("--static", action="store_true", help="fixed height and width (the --size), dynamic batch only")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max |diff| to eager accepted by the check")
    p.add_argument(
        "--precision",
        choices=("fp32", "int8"),
        default="fp32",
        help="int8: onnxruntime static quantization (QDQ), calibrated on --calibration-dataset",
    )
    add_calibration_args(p)
    add_json_arg(p, "export report")
    p.set_defaults(func=cmd_export)
