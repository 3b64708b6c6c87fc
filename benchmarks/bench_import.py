"""Whole-process import time of segzoo against torch and timm, measured in the same run (medians).

    python benchmarks/bench_import.py --repeat 5

segzoo defers torch, timm, torchvision, huggingface_hub and plugin discovery to first use, so `import segzoo`
should cost a small fraction of `import torch`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

STATEMENTS = {
    "python (baseline)": "pass",
    "import segzoo": "import segzoo",
    "import torch": "import torch",
    "import timm": "import timm",
    "segzoo.list_models()": "import segzoo; segzoo.list_models()",
}


def measure(statement: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = {name: measure(stmt, args.repeat) for name, stmt in STATEMENTS.items()}
    torch_time = results["import torch"]
    print(f"{'statement':<24} {'median s':>9} {'vs import torch':>16}")
    for name, seconds in results.items():
        print(f"{name:<24} {seconds:>9.3f} {seconds / torch_time:>15.2f}x")


if __name__ == "__main__":
    main()
