"""segzoo against its upstream twins: identical outputs from the same weights, and eager inference speed.

    python benchmarks/bench_upstream.py            # 512x512, 9 interleaved rounds, every twin
    python benchmarks/bench_upstream.py --quick    # 256x256, 7 rounds, the smaller twins (about 1 minute)

For each twin the upstream model (torchvision, smp, transformers, mmsegmentation when installed: one ResNet-50 model
per family segzoo converts) gets random weights and BatchNorm statistics; the
segzoo converter moves them into the segzoo model. The script checks the logits agree (max |diff| <= 1e-4) and
times eager fp32 inference at batch 1 on both, interleaved in the same run (the machine is noisy: read the ratio),
each side up to logits at the input size. A ratio above 1 means segzoo is faster.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, paired_ratio, verdict  # noqa: E402
from _upstream import randomize_, twins  # noqa: E402

TOLERANCE = 1e-4


def segzoo_twin(entry: dict, upstream: torch.nn.Module) -> torch.nn.Module:
    from segzoo._api import create_from_config
    from segzoo.hub.loading import build_with_weights, converter_for

    state = converter_for({**entry, "requires": entry.get("requires", "?")})(upstream.state_dict(), entry)
    return build_with_weights(lambda: create_from_config(entry), state, what=f"converted {entry['name']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256x256, 3 repetitions, skip the largest twins")
    parser.add_argument("--size", type=int, help="input height and width (default 512, 256 with --quick)")
    parser.add_argument("--repeat", type=int, help="timed rounds (default 9, 7 with --quick)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--only", help="run the twins whose name or upstream project contains this text")
    args = parser.parse_args()
    size = args.size or (256 if args.quick else 512)
    repeat = args.repeat or (7 if args.quick else 9)
    torch.manual_seed(0)
    x = torch.randn(1, 3, size, size)
    rows, failures = [], 0
    print(
        f"eager fp32, batch 1, {size}x{size}, {repeat} interleaved rounds, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; speed = upstream / segzoo time per round (median, 95% interval)"
    )
    print(
        f"{'model':<30} {'upstream':<13} {'max |diff|':>10} {'upstream s':>10} {'segzoo s':>9} {'speed':>6} "
        f"{'95% interval':>13}  verdict"
    )
    for twin in twins(quick=args.quick):
        if args.only and args.only not in twin.name and args.only != twin.upstream:
            continue
        upstream = randomize_(twin.build_upstream())
        model = segzoo_twin(twin.entry, upstream)
        with torch.inference_mode():
            diff = (twin.logits(upstream(x), (size, size)) - model(x)).abs().max().item()
            # both sides produce logits at the input size (transformers' models stop at stride 4; their
            # post-processing upsamples, and segzoo's forward does the same inside the model)
            times = interleaved(
                {"upstream": lambda: twin.logits(upstream(x), (size, size)), "segzoo": lambda: model(x)}, repeat
            )
        up_s, sz_s = statistics.median(times["upstream"]), statistics.median(times["segzoo"])
        ratio, low, high = paired_ratio(times["upstream"], times["segzoo"])
        ok = diff <= TOLERANCE
        failures += not ok
        rows.append(
            {
                "model": twin.name,
                "upstream": twin.upstream,
                "max_abs_diff": diff,
                "upstream_s": up_s,
                "segzoo_s": sz_s,
                "speed_ratio": ratio,
                "interval_95": [low, high],
                "verdict": verdict(low, high),
                "times_s": times,
            }
        )
        print(
            f"{twin.name:<30} {twin.upstream:<13} {diff:>10.1e} {up_s:>10.3f} {sz_s:>9.3f} {ratio:>5.2f}x "
            f"{f'{low:.2f}-{high:.2f}x':>13}  {verdict(low, high)}" + ("" if ok else "  OUTPUTS DIFFER")
        )
    if args.json:
        args.json.write_text(json.dumps({"size": size, "repeat": repeat, "results": rows}, indent=2))
    print("all outputs agree within 1e-4" if not failures else f"{failures} twin(s) disagree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
