"""``segzoo.load(name)`` of a cached first-party catalog entry against the code before the one-way load pipeline and
against loading the same file by hand.

    python benchmarks/bench_load_cached.py --repeat 7 --threads 1
    python benchmarks/bench_load_cached.py --model unet-mobilenetv3-camvid --profile

The first-party checkpoints (``checkpoints/<name>/``) are published to segzoo's local test Hub
(:class:`segzoo.testing.hub_server.HubServer`, the real ``huggingface_hub`` client) and loaded once by name, which
fills a throw-away Hugging Face cache and segzoo's verification stamps, as a first ``segzoo.load`` does. Every
measured load then runs offline (``HF_HUB_OFFLINE=1``) from that cache, in a fresh process per measurement, the
sides interleaved so machine noise hits them alike; library imports and plugin discovery (``segzoo.list_models()``)
come before the clock starts, and bytecode is cached as for an installed package (``PYTHONPYCACHEPREFIX`` in the
run's temporary folder, one untimed load per side first). ``cold`` is the first load in the process; ``warm`` the
median of the next ``--warm`` loads of the same entry in it (modules imported, first-call work done).

Sides, each ending with the float32 model in eval mode holding the file's weights:

* ``segzoo``: ``segzoo.load(name)`` of this checkout (catalog lookup, target built on meta, cache lookup and sha256
  stamp check, header-checked safetensors read, the entry's converter, the fit check, assignment);
* ``before``: the same call on the code of ``--before`` (default ``02ad0e2^``, the commit before the one-way load
  pipeline; ``git archive`` of its ``segzoo/``, ``plugins/`` and catalog, first on ``PYTHONPATH``, its own copy of the
  stamps);
* ``by hand``: what a user would write knowing the file: ``segzoo.create(...)`` (random initialisation),
  ``safetensors.torch.load_file(path)``, cast to float32, ``load_state_dict``;
* ``by hand, meta``: the same with ``segzoo.create`` on the meta device and ``load_state_dict(assign=True)``: no
  lookup, no verification, no initialisation on real tensors.

Ratios are segzoo's time over each other side's, per round (calls moments apart), summarised by their median and a
95 % bootstrap interval (``_timing.paired_ratio``); below 1: segzoo.load is faster. ``--profile`` prints cProfile's
top functions of segzoo.load, cold and warm.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import paired_ratio  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"
SIDES = ("segzoo", "before", "by hand", "by hand, meta")
BEFORE = "02ad0e2^"  # the parent of "One-way load pipeline"

CHILD = r"""
import json, statistics, sys, time
side, name, path, kwargs, warm = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5])
import torch, timm, safetensors.torch  # library imports are not part of the load
import segzoo
segzoo.list_models()  # plugin discovery and the catalog: not part of the load either

def by_hand(meta):
    if meta:
        with torch.device("meta"):
            model = segzoo.create(**kwargs)
    else:
        model = segzoo.create(**kwargs)
    state = {k: v.float() if v.is_floating_point() else v for k, v in safetensors.torch.load_file(path).items()}
    model.load_state_dict(state, assign=meta)
    return model.eval()

sides = {"segzoo": lambda: segzoo.load(name), "by hand": lambda: by_hand(False), "by hand, meta": lambda: by_hand(True)}
load = sides["segzoo" if side == "before" else side]
times = []
for _ in range(1 + warm):
    start = time.perf_counter()
    model = load()
    times.append(time.perf_counter() - start)
    assert next(model.parameters()).dtype == torch.float32 and not model.training
print(json.dumps({"cold": times[0], "warm": statistics.median(times[1:]) if warm else None,
                  "params": sum(p.numel() for p in model.parameters())}))
"""

PROFILE = r"""
import cProfile, pstats, sys
name, reps = sys.argv[1], int(sys.argv[2])
import torch, timm, safetensors.torch
import segzoo
segzoo.list_models()
for label, n in (("cold: the first segzoo.load in the process", 1), (f"warm: {reps} more loads", reps)):
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(n):
        segzoo.load(name)
    profile.disable()
    print(f"\n== {label} ==")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(28)
"""


def first_party() -> list[str]:
    return sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "config.json").is_file())


def prepare(names: list[str], root: Path) -> dict[str, str]:
    """Publish the checkpoints to a local Hub and load each once by name (fills the caches); returns the environment
    of the offline children."""
    import pytest

    import segzoo
    from segzoo.hub.serialization import publish_directory
    from segzoo.testing.hub_server import HubServer
    from segzoo.testing.pytest_plugin import HfEnv

    env = dict(os.environ)
    with pytest.MonkeyPatch.context() as patch, HubServer() as server:
        hf = HfEnv.create(patch, root / "hf")  # segzoo's cache (the stamps): root/hf/segzoo, beside the HF cache
        hf.use_endpoint(server.url)
        for name in names:
            weights = segzoo.info(name)["weights"]
            published = publish_directory(CHECKPOINTS / name, weights["hub"]["repo_id"])
            assert published["weights"]["sha256"] == weights["sha256"], f"{name}: the file is not the catalog's"
            segzoo.load(name)  # the first load: download, verify, stamp
        env = {k: v for k, v in env.items() if k != "SEGZOO_CACHE" and not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update({k: os.environ[k] for k in os.environ if k.startswith(("HF_", "HUGGINGFACE_"))})
    env.update(HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")  # the server is gone: nothing may ask it
    return env


def hand_inputs(name: str, env: dict[str, str]) -> tuple[str, dict]:
    """The cached file's path and the ``segzoo.create`` arguments of the entry, for the by-hand sides."""
    code = (
        "import json, segzoo\n"
        "from huggingface_hub import try_to_load_from_cache\n"
        f"e = segzoo.info({name!r})\n"
        "h = e['weights']['hub']\n"
        "path = try_to_load_from_cache(h['repo_id'], h['filename'], revision=h['revision'])\n"
        "kw = dict(arch=e['architecture'], encoder=e['encoder'], num_classes=e['num_classes'], **e['options'])\n"
        "print(json.dumps([path, kw]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    path, kwargs = json.loads(out.stdout.strip().splitlines()[-1])
    assert isinstance(path, str), f"{name} is not in the prepared cache"
    return path, kwargs


def before_tree(rev: str, root: Path, env: dict[str, str], names: list[str]) -> tuple[dict[str, str], Path]:
    """``segzoo/`` and ``plugins/`` of ``rev`` under ``root``; the environment and working directory that import
    them instead of this checkout's, with their own copy of segzoo's cache (stamps), warmed by one load each."""
    tree = root / "before"
    tree.mkdir()
    paths = ["segzoo", "plugins", "registry.json"]
    archive = subprocess.run(["git", "archive", rev, *paths], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    plugins = sorted(str(p) for p in (tree / "plugins").iterdir() if p.is_dir())
    cache = root / "segzoo-before"
    shutil.copytree(root / "hf" / "segzoo", cache)
    before = {**env, "PYTHONPATH": os.pathsep.join([str(tree), *plugins]), "SEGZOO_CACHE": str(cache)}
    for name in names:
        code = f"import segzoo; assert segzoo.__file__.startswith({str(tree)!r}); segzoo.load({name!r})"
        out = subprocess.run([sys.executable, "-c", code], env=before, cwd=tree, capture_output=True, text=True)
        assert out.returncode == 0, f"{rev} cannot load {name}: {out.stderr[-2000:]}"
    return before, tree


def run(side: str, name: str, path: str, kwargs: dict, warm: int, env: dict[str, str], cwd: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, side, name, path, json.dumps(kwargs), str(warm)],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(title: str, results: dict[str, list[dict]]) -> None:
    params = {r["params"] for rs in results.values() for r in rs}
    assert len(params) == 1 or title == "all", f"{title}: the sides built different models"
    print(f"\n{title}: {len(results['segzoo'])} rounds (a fresh process per side and round)")
    print(f"{'':<14} {'cold ms':>9} {'warm ms':>9}")
    for side, rs in results.items():
        cold = statistics.median(r["cold"] for r in rs) * 1e3
        warm = statistics.median(r["warm"] for r in rs) * 1e3
        print(f"{side:<14} {cold:>9.1f} {warm:>9.1f}")
    for which in ("cold", "warm"):
        ours = [r[which] for r in results["segzoo"]]
        for other in list(results)[1:]:
            # paired_ratio(base, other) is base/other per round: here segzoo's time over the other side's
            median, low, high = paired_ratio(ours, [r[which] for r in results[other]])
            print(f"segzoo.load / {other + ',':<14} {which}: {median:.2f}x  (95% CI {low:.2f}-{high:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=first_party(), help="a first-party entry (default: all)")
    parser.add_argument("--repeat", type=int, default=7, help="rounds: fresh processes per side")
    parser.add_argument("--warm", type=int, default=5, help="loads after the first, in each process")
    parser.add_argument("--threads", type=int, help="torch threads of the children (OMP_NUM_THREADS; default: torch's)")
    parser.add_argument("--before", default=BEFORE, help="git revision of the 'before' side ('none': leave it out)")
    parser.add_argument("--profile", action="store_true", help="cProfile segzoo.load instead of timing")
    args = parser.parse_args()
    names = args.model or first_party()
    with tempfile.TemporaryDirectory(prefix="segzoo-bench-load-cached-") as tmp:
        env = prepare(names, Path(tmp))
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        # bytecode cached as in an installed package (else every fresh process compiles what it imports), kept
        # out of the source tree
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        if args.profile:
            for name in names:
                subprocess.run([sys.executable, "-c", PROFILE, name, str(args.warm)], env=env, cwd=ROOT, check=True)
            return
        where = {side: (env, ROOT) for side in SIDES}
        if args.before.lower() == "none":
            del where["before"]
        else:
            where["before"] = before_tree(args.before, Path(tmp), env, names)
        pooled: dict[str, list[dict]] = {side: [] for side in where}
        for name in names:
            path, kwargs = hand_inputs(name, env)
            results: dict[str, list[dict]] = {side: [] for side in where}
            for side in where:  # untimed: writes the bytecode cache
                run(side, name, path, kwargs, 0, *where[side])
            for r in range(args.repeat):  # interleaved, the order alternating between rounds
                for side in list(where) if r % 2 == 0 else list(where)[::-1]:
                    results[side].append(run(side, name, path, kwargs, args.warm, *where[side]))
            report(name, results)
            for side, rs in results.items():
                pooled[side] += rs
        if len(names) > 1:
            report("all", pooled)


if __name__ == "__main__":
    main()
