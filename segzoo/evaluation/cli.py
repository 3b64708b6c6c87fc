"""``segzoo eval`` and ``segzoo bench``. Imported by ``segzoo.cli`` to build the parser: nothing heavy at import, so
each command imports its work when it runs. What the options mean lives in :mod:`segzoo.evaluation.options`."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from segzoo._boundary import int_at_least
from segzoo._paths import check_writable
from segzoo._text import table
from segzoo.errors import SegzooError
from segzoo.inference.calibration import calibration_from_args
from segzoo.inference.cli import (
    _size,
    add_inference_args,
    add_json_arg,
    load_model,
    preprocessing_from_args,
    settings_from_args,
    write_json,
)


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_dataset_args(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_argument_group("dataset")
    g.add_argument(
        "--dataset",
        required=required,
        help="registered dataset name (segzoo datasets: camvid, voc2012, cityscapes, ade20k, shapes, ...)",
    )
    g.add_argument("--root", default=None, help="dataset folder (not needed for 'shapes')")
    g.add_argument(
        "--split",
        default="val",
        help="default: the split the model's published metrics were measured on (e.g. test), else val; a slice such as "
        "'train[16:]' takes those images of the split (in the dataset's sorted order), 'train[:4,16:]' the union "
        "of several slices",
    )
    g.add_argument(
        "--dataset-option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra dataset argument (JSON value), e.g. length=16 for shapes; repeatable",
    )
    g.add_argument("--limit", type=int_at_least(1), default=None, metavar="N", help="only the first N images")
    g.add_argument("--batch-size", type=int_at_least(1), default=1)
    g.add_argument(
        "--num-workers",
        type=int_at_least(0),
        default=None,
        help="DataLoader workers (default: 0 on machines with at most 2 cores, else min(4, cores-1))",
    )
    g.add_argument("--boundary", action="store_true", help="also compute boundary F1 (mBF)")
    g.add_argument("--boundary-tolerance", type=float, default=2.0, metavar="PX")


def _dataset(args: argparse.Namespace, options: dict[str, Any] | None = None):
    """``--dataset``'s ``--split``, or a slice of it (``train[16:]``: images held out of a training split), opened
    with ``options`` (default: the ``--dataset-option``s)."""
    if args.dataset is None:
        return None
    from segzoo.train.data import open_split

    return open_split(args.dataset, args.root, args.split, dict(args.dataset_option) if options is None else options)


def _pct(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


# -- eval ----------------------------------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from segzoo.evaluation import sharding
    from segzoo.evaluation.scoring import check_classes, evaluate, per_class_rows
    from segzoo.evaluation.environment import fingerprint
    from segzoo.evaluation.options import dataset_options, measured_split, protocol_settings
    from segzoo.inference.engine import Engine

    settings = settings_from_args(args, args.batch_size)
    if args.json not in (None, "-"):
        check_writable(args.json, option="--json")
    model = load_model(args.model)
    if args.split is None:
        args.split = measured_split(model.config, args.dataset)
    options = dataset_options(model.config, args.dataset, args.dataset_option)
    dataset = _dataset(args, options)
    settings, protocol = protocol_settings(model, args, settings)
    names = check_classes(model, dataset, name=f"{args.dataset} ({args.split})", model_name=str(args.model))
    pre = preprocessing_from_args(model, args)
    with sharding.session(args.device) as dist_info:  # under torchrun: each rank scores its share of the images
        engine = Engine(
            model,
            args.engine,
            args.precision,
            dist_info.device if dist_info.distributed else args.device,
            copy=False,
            calibration=calibration_from_args(args, evaluated=True),
            calibration_size=args.calibration_size,
            preprocessing=pre,
        )
        result = evaluate(
            engine,
            dataset,
            preprocessing=pre,
            settings=settings,
            batch_size=args.batch_size,
            limit=args.limit,
            num_workers=args.num_workers,
            boundary=args.boundary,
            boundary_tolerance=args.boundary_tolerance,
            progress=not args.no_progress and sharding.is_main(),
            description=f"eval {args.dataset}",
            class_names=names,
        )
        if not sharding.is_main():
            return 0
    data = {
        "model": str(args.model),
        "dataset": args.dataset,
        "split": args.split,
        "dataset_options": options,
        "images": result["images"],
        "settings": result["settings"],
        "protocol": protocol,
        "engine": engine.describe(),
        "metrics": result["metrics"],
        "timing": result["timing"],
        "fingerprint": fingerprint(engine.device),
    }
    if args.json == "-":
        write_json(data, "-")
        return 0
    if args.json is not None:
        write_json(data, args.json)
    m, t = result["metrics"], result["timing"]
    header = ["id", "class", "IoU", "Dice", "precision", "recall", "pixels"]
    if "bf" in m:
        header.insert(6, "BF")
    print(
        f"{data['model']} on {args.dataset} {args.split} ({result['images']} images), mode {settings.mode}, "
        f"engine {engine.engine}, {engine.precision}, {engine.device}"
    )
    given = "".join(f"; {k}={json.dumps(v)}" for k, v in options.items())
    print(f"protocol: {protocol}; resize {dict(pre.resize) if pre.resize else 'none'}{given}")
    print(table(per_class_rows(m), header))
    summary = (
        f"mIoU {_pct(m['mIoU'])}  pixel acc {_pct(m['pixel_accuracy'])}  mean acc {_pct(m['mean_accuracy'])}"
        f"  fwIoU {_pct(m['fwIoU'])}  mDice {_pct(m['mDice'])}"
    )
    if "mBF" in m:
        summary += f"  mBF {_pct(m['mBF'])}"
    print(summary)
    print(
        f"{t['wall_s']:.1f} s ({t['images_per_s']:.2f} img/s); model forward {100 * t['model_time_share']:.0f}% of "
        f"the time, waiting for data {100 * t['data_time_share']:.0f}%, scoring at the label resolution "
        f"{100 * t.get('post_time_share', t['post_s'] / t['wall_s']):.0f}%"
    )
    for r in t.get("ranks", []):
        print(
            f"  rank {r['rank']} ({r['host']}): {r['images']} images in {r['wall_s']:.1f} s, model forward "
            f"{r['model_s']:.1f} s"
        )
    if args.json is not None:
        print(f"wrote {args.json}")
    return 0


# -- bench ---------------------------------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from segzoo.evaluation.bench import run_bench
    from segzoo.evaluation.options import bench_options
    from segzoo.evaluation.report import leaderboard_rows

    settings = settings_from_args(args, args.batch_size)
    check_writable(args.markdown, option="--markdown")
    if args.plot:
        check_writable(args.plot, option="--plot")
    if args.json not in (None, "-"):
        check_writable(args.json, option="--json")
    if bool(args.models) == bool(args.patterns):
        raise SegzooError(
            (
                "give MODEL... (models to load) or --models PATTERN... (catalog entries), not both"
                if args.models
                else "nothing to bench: give MODEL... (models to load) or --models PATTERN... (catalog entries)"
            )
        )
    if args.patterns:
        return _cmd_zoo(args, settings)
    dataset, settings = _bench_dataset(args, settings)
    bench = run_bench(
        args.models,
        dataset=dataset,
        dataset_name=args.dataset,
        split=args.split if dataset is not None else None,
        device=args.device,
        settings=settings,
        progress=not args.no_progress,
        **bench_options(args),
        calibration=calibration_from_args(args, evaluated=True),
        calibration_size=args.calibration_size,
    )
    markdown, plot, json_path = _write_leaderboard(bench, args)
    if args.json == "-":
        write_json(bench, "-")
        return 0
    header, rows = leaderboard_rows(bench)
    print(table(rows, header))
    print(f"wrote {markdown}, {plot} and {json_path}")
    return 0


def _bench_dataset(args: argparse.Namespace, requested: Any) -> tuple[Any, Any]:
    """``--dataset`` for the MODELs of a bench and the inference settings, as ``segzoo eval`` takes them for each
    model: the split and dataset options its published metrics were measured with (DRIVE's U-Net: test, every
    pixel) and its published protocol, unless ``--split``, ``--dataset-option`` or ``--mode``/``--crop``/``--stride``
    say otherwise. One bench runs every model the same way on the same images, so the models must agree."""
    import types

    import segzoo
    from segzoo.evaluation.options import dataset_options, measured_split, protocol_settings

    configs = {ref: segzoo.load(ref, pretrained=False).config for ref in args.models}
    protocols = {
        ref: protocol_settings(types.SimpleNamespace(config=c), args, requested)[0] for ref, c in configs.items()
    }
    _agreed({ref: p.as_dict() for ref, p in protocols.items()}, "inference protocols", "--mode/--crop/--stride")
    settings = next(iter(protocols.values()))
    if args.dataset is None:
        args.split = args.split or "val"
        return None, settings
    if args.split is None:
        args.split = _agreed({ref: measured_split(c, args.dataset) for ref, c in configs.items()}, "split", "--split")
    options = {ref: dataset_options(c, args.dataset, args.dataset_option) for ref, c in configs.items()}
    return _dataset(args, _agreed(options, "dataset options", "--dataset-option KEY=VALUE")), settings


def _agreed(values: dict[str, Any], what: str, option: str) -> Any:
    """The one value every model gives, or an error naming what each gives and the option that settles it."""
    distinct = {json.dumps(v, sort_keys=True) for v in values.values()}
    if len(distinct) > 1:
        each = "; ".join(f"{ref}: {json.dumps(v, sort_keys=True)}" for ref, v in values.items())
        raise SegzooError(
            f"these models were measured with different {what} ({each}); a bench runs them all the same way on "
            f"the same images: choose with {option}, or bench them separately"
        )
    return next(iter(values.values()))


def _write_leaderboard(bench: dict[str, Any], args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """The markdown, PNG and JSON files of a bench (``--markdown``, ``--plot``, ``--json``)."""
    from segzoo.evaluation.report import leaderboard_markdown, plot_accuracy_latency

    markdown = Path(args.markdown)
    plot = Path(args.plot) if args.plot else markdown.with_suffix(".png")
    json_path = markdown.with_suffix(".json") if args.json in (None, "-") else Path(args.json)
    plot_accuracy_latency(bench, plot)
    try:
        plot_ref = str(plot.resolve().relative_to(markdown.resolve().parent))
    except ValueError:
        plot_ref = str(plot.resolve())
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(leaderboard_markdown(bench, plot_name=plot_ref))
    bench["outputs"] = {"markdown": str(markdown), "plot": str(plot), "json": str(json_path)}
    write_json(bench, str(json_path))
    return markdown, plot, json_path


def _cmd_zoo(args: argparse.Namespace, requested: Any) -> int:
    """``segzoo bench --models PATTERN...``: catalog entries, resumable through the results store, under torchrun
    sharded (:mod:`segzoo.evaluation.zoo`)."""
    from segzoo import registry
    from segzoo.evaluation import sharding
    from segzoo.evaluation.options import protocol_requested
    from segzoo.evaluation.report import leaderboard_rows
    from segzoo.evaluation.selection import select_entries
    from segzoo.evaluation.store import ResultStore
    from segzoo.evaluation.zoo import run_zoo, zoo_bench

    if args.dataset is None and args.size is None:
        raise SegzooError("--models without --dataset is a speed-only bench: give the input size, e.g. --size 512x512")
    num_classes = None
    if args.dataset is not None:
        num_classes = len(registry.get("datasets", args.dataset).metadata.get("classes") or []) or None
    selection = select_entries(
        args.patterns, dataset=args.dataset, num_classes=num_classes, any_dataset=args.any_dataset
    )
    if not selection.names:
        reasons = "; ".join(f"{n}: {why}" for n, why in selection.skipped[:3])
        raise SegzooError(
            f"--models {' '.join(args.patterns)} selects no entry that can run here ({reasons}"
            f"{' ...' if len(selection.skipped) > 3 else ''})"
        )
    store = ResultStore(args.store or Path(args.markdown).with_suffix(".jsonl"))
    with sharding.session(args.device) as dist_info:
        main = sharding.is_main()
        if main:
            weights = (
                "catalog weights"
                if args.dataset
                else "RANDOM weights (speed only: built from each entry's config, nothing downloaded)"
            )
            print(
                f"{len(selection.names)} catalog entries selected, {len(selection.skipped)} left out; {weights}; "
                f"results store {store.path}" + (f"; {dist_info.world_size} processes" if dist_info.distributed else "")
            )
        run = run_zoo(
            selection.names,
            args,
            store=store,
            requested=requested,
            device=dist_info.device,
            progress=not args.no_progress,
            report_only=args.report_only,
        )
    if not main:
        return 0
    settings = {
        **requested.as_dict(),
        "engine": args.engine,
        "precision": args.precision,
        "batch_size": args.batch_size,
        "throughput_batch": args.throughput_batch,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "limit": args.limit,
    }
    if args.dataset:
        settings["mode"] = "each entry's published protocol" if not protocol_requested(args) else settings["mode"]
    split = args.split or ("per entry (the catalog's eval_split)" if args.dataset else None)
    bench = zoo_bench(
        selection.names,
        run["keys"],
        store,
        dataset=args.dataset,
        split=split,
        tolerance=args.tolerance,
        settings=settings,
    )
    bench["run"] = {k: run[k] for k in ("ran", "skipped", "shared", "failed", "wall_s")}
    bench["left_out"] = selection.skipped
    markdown, plot, json_path = _write_leaderboard(bench, args)
    if args.json == "-":
        write_json(bench, "-")
        return 0
    header, rows = leaderboard_rows(bench)
    print(table(rows, header))
    print(
        f"{run['ran']} run now in {run['wall_s']:.0f} s, {run['skipped']} already in {store.path}, "
        + (f"{run['shared']} share another entry's network (measured once), " if run["shared"] else "")
        + f"{len(run['failed'])} failed"
        + "".join(f"\n  {n}: {e}" for n, e in run["failed"])
    )
    print(f"wrote {markdown}, {plot} and {json_path}")
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model on a dataset split (mIoU, accuracy, per-class table)",
        description="Metrics of MODEL on a registered dataset split, with whole-image, sliding-window "
        "or multi-scale+flip inference.",
    )
    p.add_argument("model", help="catalog name, hf-hub:org/repo or a save_pretrained directory")
    _add_dataset_args(p, required=True)
    add_inference_args(p, evaluates=True)
    add_json_arg(p, "metrics")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval, split=None)  # the model's published eval_split, else val

    p = sub.add_parser(
        "bench",
        help="benchmark models: accuracy, latency, throughput, memory, GMACs; leaderboard",
        description="For each MODEL: the evaluation (with --dataset), latency p50/p95 at batch 1, "
        "throughput, peak memory, parameters and GMACs; writes a markdown leaderboard, a "
        "JSON file and an mIoU-vs-latency plot.",
    )
    p.add_argument("models", nargs="*", metavar="MODEL")
    p.add_argument(
        "--models",
        dest="patterns",
        nargs="+",
        default=[],
        metavar="PATTERN",
        help="catalog entries instead of MODELs: name globs ('*', 'pspnet-*'), families (pspnet), "
        "plugins (segzoo-hrnet) or datasets; with --dataset only the entries evaluated on it, each "
        "with its published protocol; resumable (--store); without --dataset speed only, random "
        "weights, --size required",
    )
    _add_dataset_args(p, required=False)
    p.set_defaults(split=None)  # each entry's or MODEL's published eval_split, else val
    add_inference_args(p, evaluates=True)
    p.add_argument(
        "--size",
        type=_size,
        default=None,
        metavar="N|HxW",
        help="input size for latency/GMACs (default: the first evaluation input, else 512)",
    )
    p.add_argument("--repeat", type=int_at_least(1), default=10, help="timed calls for latency (default 10)")
    p.add_argument("--warmup", type=int_at_least(0), default=2, help="untimed calls first (default 2)")
    p.add_argument(
        "--throughput-batch", type=int_at_least(0), default=4, help="batch size for throughput (default 4; 0 skips)"
    )
    p.add_argument(
        "--data-cache-mb",
        type=float,
        default=2048,
        metavar="MIB",
        help="decode and preprocess the split once into memory, up to this size, shared by all models "
        "(default 2048; 0 streams it from disk for each evaluation)",
    )
    p.add_argument(
        "--no-compare-fp32",
        action="store_true",
        help="with --precision bf16 or int8: skip the fp32 evaluation that gives the mIoU change",
    )
    p.add_argument("--markdown", default="leaderboard.md", help="leaderboard file (default leaderboard.md, here)")
    p.add_argument("--plot", default=None, help="plot file (default: the markdown path with .png)")
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="PATH",
        help="JSON results file (default: the markdown path with .json); no PATH: also print JSON",
    )
    p.add_argument(
        "--store",
        default=None,
        metavar="PATH",
        help="--models: the results store, one JSON line per finished result; a rerun skips what it holds "
        "(default: the markdown path with .jsonl)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="--models: rebuild the leaderboard from the store without running anything (e.g. while a "
        "long run goes on)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.5,
        metavar="POINTS",
        help="--models: flag |measured - published| above this many mIoU points (default 0.5)",
    )
    p.add_argument(
        "--any-dataset",
        action="store_true",
        help="--models with --dataset: also entries evaluated on another dataset (same class count)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_bench)
