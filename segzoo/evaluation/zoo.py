"""``segzoo bench --models PATTERN...``: the catalog-wide loop, resumable through the results store, under torchrun.

Each selected entry is benchmarked by :func:`segzoo.evaluation.bench.bench_model` and its result appended to the
:class:`~segzoo.evaluation.store.ResultStore` the moment it is finished; entries whose result (same fields: model,
dataset, split, protocol, engine, precision, sizes, repeats) is already there are skipped, so the same command
restarted after a crash goes on where it stopped. The leaderboard is then rebuilt from the store.

How the work is split under torchrun (``WORLD_SIZE`` > 1):

* with a dataset, every rank runs every model on its share of the images and the confusion matrices are summed
  (exact metrics; each result is finished after one model, which keeps the store fine-grained); rank 0 alone then
  times latency and throughput while the others wait, so that the timings are not those of ranks competing for the
  same cores;
* speed only (no dataset), the models are dealt round-robin to the ranks and timed concurrently; each record says
  how many ranks ran at once (``concurrent_ranks``) and on which host.

Speed only, a result depends on the network, not on the entry's name: entries that build the same network
(architecture, encoder, options, classes, input channels; e.g. the 40k and 80k schedules of one mmseg config) share
one measurement, taken on the first of them, and the others are reported ``measured_as`` it. Random weights make
them the same computation, so measuring each again would only add noise and hours.

Only rank 0 reads and writes the store, prints and draws the progress bars.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import logging
import socket
import time
import types
from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

import segzoo
from segzoo.catalog import spec
from segzoo.evaluation import sharding
from segzoo.evaluation.bench import bench_model
from segzoo.evaluation.environment import fingerprint
from segzoo.evaluation.options import bench_options, dataset_options, protocol_settings
from segzoo.evaluation.selection import published_metric
from segzoo.evaluation.store import ResultStore, result_key
from segzoo.inference.calibration import calibration_from_args
from segzoo.train import distributed as D
from segzoo.train.data import open_split

log = logging.getLogger("segzoo")

__all__ = ["TOLERANCE_POINTS", "compare_published", "run_zoo", "zoo_bench"]

#: |measured - published| in mIoU (or mDice) points beyond which a result is flagged; see docs/benchmarking.md
TOLERANCE_POINTS = 0.5


def compare_published(entry: dict[str, Any], result: dict[str, Any], tolerance: float) -> dict[str, Any]:
    """``published``, ``published_metric``, ``delta_published`` (measured - published, points) and ``flagged``."""
    published = published_metric(entry)
    if published is None:
        return {}
    metric, value = published
    measured = result.get(metric)
    if measured is None:
        return {"published_metric": metric, "published": value}
    delta = 100 * measured - value
    estimate = bool((entry.get("metrics") or {}).get("cross_validation"))  # a recipe's estimate, not a reproduction
    flagged = abs(delta) > tolerance and not estimate
    return {"published_metric": metric, "published": value, "delta_published": delta, "flagged": flagged}


def _entry_settings(entry: dict[str, Any], args: Any, requested: Any) -> tuple[Any, str]:
    """The entry's published protocol unless the command asked for one (``protocol_settings`` of ``segzoo eval``)."""
    return protocol_settings(types.SimpleNamespace(config={"inference": entry.get("inference")}), args, requested)


def _fields(name: str, split: str | None, settings: Any, opts: dict[str, Any]) -> dict[str, Any]:
    """What a result depends on: its key in the store. Speed only (random weights), the network built, not the
    entry's name."""
    keep = (
        "dataset",
        "limit",
        "engine",
        "precision",
        "device",
        "size",
        "resize",
        "no_resize",
        "batch_size",
        "repeat",
        "warmup",
        "throughput_batch",
        "pretrained",
    )
    subject: dict[str, Any] = {"model": name} if opts.get("pretrained") else {"network": network(name)}
    fields = {**subject, "split": split, "protocol": settings.as_dict(), **{k: opts.get(k) for k in keep}}
    if opts.get("calibration"):  # int8 only, so that fp32/bf16 keys stay what they were
        fields["calibration"] = opts["calibration"]
    return fields


def network(name: str) -> dict[str, Any]:
    """What ``segzoo.create`` builds for catalog entry ``name`` (architecture, encoder, classes, channels, options)."""
    return spec(segzoo.info(name)).config


def run_zoo(
    names: Sequence[str],
    args: Any,
    *,
    store: ResultStore,
    requested: Any,
    device: Any,
    progress: bool = True,
    report_only: bool = False,
) -> dict[str, Any]:
    """Benchmark ``names`` as the parsed ``segzoo bench`` ``args`` say, skipping what ``store`` holds (everything,
    with ``report_only``: the keys only, to rebuild the leaderboard while a run goes on). Every rank calls this.
    Returns ``{"keys": {name: key}, "ran": n, "skipped": n, "failed": [(name, error)], "wall_s"}``."""
    start = time.perf_counter()
    with_data = args.dataset is not None
    opts = {
        "dataset": args.dataset,
        "limit": args.limit if with_data else None,
        "engine": args.engine,
        "precision": args.precision,
        "device": str(device),
        "size": list(args.size) if args.size else None,
        "resize": args.resize,
        "no_resize": args.no_resize,
        "batch_size": args.batch_size,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "throughput_batch": args.throughput_batch,
        "pretrained": with_data,
    }
    calibration = calibration_from_args(args, evaluated=with_data)
    if calibration is not None:
        opts["calibration"] = {
            "dataset": getattr(calibration, "name", None),
            "split": getattr(calibration, "split", None),
            "size": args.calibration_size,
        }
    entries = {n: segzoo.info(n) for n in names}
    plan = {}
    for name in names:
        entry = entries[name]
        split = (args.split or entry["dataset"].get("eval_split") or "val") if with_data else None
        settings, protocol = _entry_settings(entry, args, requested) if with_data else (requested, "as requested")
        options = dataset_options(entry, args.dataset, args.dataset_option) if with_data else {}
        fields = _fields(name, split, settings, opts)
        if options:  # only then, so that the keys of results without options stay what they were
            fields["dataset_options"] = options
        plan[name] = (split, settings, protocol, fields, result_key(fields))
    done = set(store.load()) if sharding.is_main() else set()
    first_of_key: dict[str, str] = {}
    for n in names:
        first_of_key.setdefault(plan[n][4], n)
    todo = D.broadcast_object([n for n in names if plan[n][4] not in done and first_of_key[plan[n][4]] == n])
    pending = [] if report_only else todo
    show = progress and sharding.is_main()
    bar = tqdm(
        total=len(names),
        initial=len(names) - len(pending),
        desc="zoo",
        unit="model",
        disable=not show,
        dynamic_ncols=True,
    )
    failed: list[tuple[str, str]] = []
    datasets: dict[str, Any] = {}
    prepared: dict[str, Any] = {}
    common = dict(
        bench_options(args),
        device=str(device),
        pretrained=with_data,
        calibration=calibration,
        calibration_size=args.calibration_size,
    )

    def one(name: str, **extra: Any) -> dict[str, Any] | None:
        split, settings, protocol, fields, _ = plan[name]
        dataset = None
        if with_data:
            options = fields.get("dataset_options", {})
            opened = json.dumps([split, options], sort_keys=True)
            if opened not in datasets:
                datasets[opened] = open_split(args.dataset, args.root, split, options)
                prepared.clear()  # keyed by preprocessing only: another split must not reuse them
            dataset = datasets[opened]
        t0 = time.perf_counter()
        try:
            record = bench_model(name, dataset=dataset, settings=settings, prepared_splits=prepared, **common, **extra)
        except Exception as err:  # noqa: BLE001 - one broken entry must not end a catalog-wide run
            if with_data and D.world_size() > 1:
                raise  # the other ranks wait in a collective: stop them all
            failed.append((name, f"{type(err).__name__}: {err}"))
            log.warning("%s failed: %s: %s", name, type(err).__name__, err)
            return None
        finally:
            gc.collect()
        record.update(
            bench_s=time.perf_counter() - t0,
            protocol=protocol,
            host=socket.gethostname(),
            rank=D.rank(),
            concurrent_ranks=1 if with_data else D.world_size(),
        )
        return record

    if with_data:  # all ranks on each model (images sharded inside evaluate); rank 0 times the speed alone
        for name in pending:
            bar.set_postfix_str(name)
            record = one(name, speed=sharding.is_main(), progress=show)
            if sharding.is_main() and record is not None:
                store.append(plan[name][3], record, fingerprint(device))
            D.barrier()
            bar.update(1)
    else:  # models dealt round-robin to the ranks
        world = D.world_size()
        for first in range(0, len(pending), world):
            batch = pending[first : first + world]
            mine = batch[D.rank()] if D.rank() < len(batch) else None
            bar.set_postfix_str(", ".join(batch))
            record = one(mine, progress=show) if mine is not None else None
            gathered = D.all_gather_objects((mine, record, failed[-1] if failed and failed[-1][0] == mine else None))
            if sharding.is_main():
                for name, rec, failure in gathered:
                    if rec is not None:
                        store.append(plan[name][3], rec, fingerprint(device))
                    elif failure is not None and name != mine:
                        failed.append(failure)
            bar.update(len(batch))
    bar.close()
    return {
        "keys": {n: plan[n][4] for n in names},
        "ran": len(pending),
        "skipped": len(names) - len(todo) - sum(first_of_key[plan[n][4]] != n for n in names),
        "shared": sum(first_of_key[plan[n][4]] != n for n in names),
        "failed": failed,
        "wall_s": time.perf_counter() - start,
    }


def zoo_bench(
    names: Sequence[str],
    keys: dict[str, str],
    store: ResultStore,
    *,
    dataset: str | None,
    split: str | None,
    tolerance: float,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The leaderboard data (``run_bench``'s form) of ``names``, read back from the store, with the published
    comparison from the catalog. Names without a stored result are listed in ``missing``."""
    lines = store.load()
    results, fingerprints, missing = [], [], []
    for name in names:
        line = lines.get(keys[name])
        if line is None:
            missing.append(name)
            continue
        result = dict(line["result"])
        if result.get("model") != name:  # speed only: a network shared with the entry it was measured on
            result.update(model=name, measured_as=result.get("model"))
        result.update(compare_published(segzoo.info(name), result, tolerance) if dataset else {})
        result["finished"] = line["finished"]
        results.append(result)
        fingerprints.append(line.get("fingerprint") or {})
    eval_images = next((r.get("eval_images") for r in results if r.get("eval_images")), None)
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset,
        "split": split,
        "eval_images": eval_images,
        "settings": settings,
        "fingerprint": fingerprints[0] if fingerprints else fingerprint(),
        "tolerance_points": tolerance,
        "store": str(store.path),
        "selected": len(names),
        "missing": missing,
        "bench_s_total": sum(lines[k]["result"].get("bench_s") or 0 for k in {keys[n] for n in names} if k in lines),
        "conventions": {
            "gmacs": "multiply-accumulates of one batch-1 inference at input_size = FlopCounterMode FLOPs / 2 "
            "(torchvision's 'GFLOPS' convention)",
            "latency_ms": "batch 1, full inference mode, percentiles over repeat timed calls",
            "delta_published": "measured - published, in points of the published metric (mIoU or mDice)",
            "random_weights": "speed only: built from the catalog config, no weights downloaded",
        },
        "results": results,
    }
