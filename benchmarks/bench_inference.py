"""segzoo's inference engines against torchvision eager, on the same weights, in the same run.

    python benchmarks/bench_inference.py                  # 512x512, 7 interleaved rounds, fp32 + bf16 + int8
    python benchmarks/bench_inference.py --quick          # 256x256, 5 rounds
    python benchmarks/bench_inference.py --compile        # also torch.compile (about 45 s start-up per model)

For deeplabv3-resnet50 and fcn-resnet50 the torchvision model gets random weights and BatchNorm statistics; the
segzoo converter moves them into the segzoo model (benchmarks/_upstream.py). Then, at batch 1, the variants run in
turn, one call each per round (interleaved, so load from other processes hits all of them alike), and the script
prints the median time of each and its speed-up over torchvision eager (above 1 = faster): the median of the
per-round ratios with a 95 % bootstrap interval (benchmarks/_timing.py). fp32 variants must agree
with torchvision's logits within 1e-4; bf16 and int8 show their max |diff| and the share of pixels whose argmax
agrees. int8 (onnxruntime static quantization, segzoo.inference.quantize) is calibrated on --calibration-size random
inputs drawn like the timed one but with other seeds: the catalog weights cannot be downloaded here, so the weights
are random and there are no real images they were trained for; the speed does not depend on either, the argmax
agreement of a random-weight model (nearly flat logits) is a pessimistic proxy for a trained one's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, paired_ratio  # noqa: E402
from _upstream import randomize_, twins  # noqa: E402
from bench_upstream import segzoo_twin  # noqa: E402

from segzoo._hardware import bf16_supported  # noqa: E402
from segzoo.inference.engine import Engine, default_engine  # noqa: E402

MODELS = ("deeplabv3-resnet50", "fcn-resnet50")
TOLERANCE = 1e-4


def _ort_version() -> str:
    try:
        import onnxruntime
    except ImportError:
        return "not installed"
    return onnxruntime.__version__


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256x256, 3 repetitions")
    parser.add_argument("--size", type=int, help="input height and width (default 512, 256 with --quick)")
    parser.add_argument("--repeat", type=int, help="timed rounds (default 7, 5 with --quick)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 engine")
    parser.add_argument("--no-onnxruntime", action="store_true", help="skip the onnxruntime engine")
    parser.add_argument("--no-int8", action="store_true", help="skip int8 (onnxruntime static quantization)")
    parser.add_argument("--calibration-size", type=int, default=8, help="int8 calibration inputs (default 8)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow start-up)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    size = args.size or (256 if args.quick else 512)
    repeat = args.repeat or (5 if args.quick else 7)
    torch.manual_seed(0)
    x = torch.randn(1, 3, size, size)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"batch 1, {size}x{size}, median of {repeat} interleaved rounds, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, bf16 native: {bf16_supported(torch.device('cpu'))}, "
        f"onnxruntime {_ort_version()}, random weights (the catalog weights cannot be downloaded here), "
        f"load average {load:.2f} at start; engine 'auto' is {default_engine(torch.device('cpu'), 'fp32')} "
        "for fp32 on this CPU"
    )
    rows, failures = [], 0
    by_name = {t.name: t for t in twins(quick=True)}
    for name in args.models:
        twin = by_name[name]
        upstream = randomize_(twin.build_upstream())
        model = segzoo_twin(twin.entry, upstream)
        variants: dict[str, object] = {
            "torchvision eager": lambda t, up=upstream, tw=twin: tw.logits(up(t), (size, size)),
            "segzoo eager": model,
        }
        setup: dict[str, float] = {}
        for label, engine, precision, wanted in [
            ("segzoo channels_last", "channels_last", "fp32", True),
            ("segzoo onnxruntime", "onnxruntime", "fp32", not args.no_onnxruntime),
            ("segzoo bf16", "auto", "bf16", not args.no_bf16),
            ("segzoo int8", "auto", "int8", not args.no_int8),
            ("segzoo compile", "compile", "fp32", args.compile),
        ]:
            if not wanted:
                continue
            start = time.perf_counter()
            calibration = None
            if precision == "int8":
                g = torch.Generator().manual_seed(1)
                calibration = [torch.randn(1, 3, size, size, generator=g) for _ in range(args.calibration_size)]
            eng = Engine(model, engine, precision, "cpu", copy=True, calibration=calibration)
            eng(x)  # first call (compiles for 'compile')
            setup[label] = time.perf_counter() - start
            variants[label] = eng
        with torch.inference_mode():
            ref = variants["torchvision eager"](x)
            outputs = {k: f(x) for k, f in variants.items()}
            times = interleaved({k: (lambda f=f: f(x)) for k, f in variants.items()}, repeat)
        base = times["torchvision eager"]
        print(f"\n{name}")
        print(
            f"  {'variant':<20} {'median s':>9} {'speed-up':>9} {'95% interval':>13} {'max |diff|':>11} "
            f"{'argmax agree':>13} {'setup s':>8}"
        )
        for k in variants:
            med = statistics.median(times[k])
            ratio, low, high = paired_ratio(base, times[k])
            diff = float((outputs[k] - ref).abs().max())
            agree = float((outputs[k].argmax(1) == ref.argmax(1)).float().mean())
            exact = "bf16" not in k and "int8" not in k
            ok = diff <= TOLERANCE or not exact
            failures += not ok
            rows.append(
                {
                    "model": name,
                    "variant": k,
                    "median_s": med,
                    "speedup_vs_torchvision": ratio,
                    "interval_95": [low, high],
                    "max_abs_diff": diff,
                    "argmax_agreement": agree,
                    "setup_s": setup.get(k),
                    "times_s": times[k],
                }
            )
            print(
                f"  {k:<20} {med:>9.3f} {ratio:>8.2f}x {f'{low:.2f}-{high:.2f}x':>13} {diff:>11.1e} "
                f"{100 * agree:>12.3f}% {setup.get(k, 0):>8.1f}" + ("" if ok else "  OUTPUTS DIFFER")
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "size": size,
                    "repeat": repeat,
                    "load_average": load,
                    "threads": torch.get_num_threads(),
                    "results": rows,
                },
                indent=2,
            )
        )
    print(
        "\nall fp32 variants agree with torchvision within 1e-4"
        if not failures
        else f"\n{failures} fp32 variant(s) disagree"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
