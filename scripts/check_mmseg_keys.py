"""Key coverage of the mmseg catalog, without weights: every key and every shape of every entry.

    python scripts/check_mmseg_keys.py                      # all mmseg entries of the catalog
    python scripts/check_mmseg_keys.py "pspnet-*" --one-per-structure --json out.json

For each entry: mmseg's own model from the entry's config, randomly initialised (``segzoo.testing.mmseg.build_twin``),
its ``state_dict()`` through the entry's converter, loaded strictly into the entry's segzoo model (built on the meta
device; a missing, unexpected or mis-shaped key fails). Prints one line per entry and a summary with the runtime.
Needs the test extras' mmseg twin (mmsegmentation, mmcv-lite, mmengine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


_NO_PARAMETERS = ("align_corners",)


def structure(entry: dict[str, Any]) -> str:
    """Entries that build the same modules with the same keys (shapes may differ by the number of classes):
    architecture, encoder and options, but for ``align_corners``, which changes no parameter."""
    options = {k: v for k, v in entry.get("options", {}).items() if k not in _NO_PARAMETERS}
    return json.dumps([entry["architecture"], entry["encoder"], options], sort_keys=True)


def mmseg_entries(pattern: str = "*", *, one_per_structure: bool = False) -> list[dict[str, Any]]:
    """The catalog's mmseg entries matching ``pattern``; with ``one_per_structure`` the first of each structure."""
    import segzoo

    entries = [segzoo.info(n) for n in segzoo.list_models(pattern)]
    entries = [e for e in entries if e["weights"]["format"] == "mmseg"]
    if one_per_structure:
        firsts: dict[str, dict] = {}
        for e in entries:
            firsts.setdefault(structure(e), e)
        entries = list(firsts.values())
    return entries


def check_entry(entry: dict[str, Any]) -> None:
    """Raise (WeightsError naming the keys) unless the converted random mmseg state_dict loads strictly."""
    from segzoo._api import create_from_config
    from segzoo.hub.loading import build_with_weights, converter_for
    from segzoo.testing.mmseg import build_twin

    convert = converter_for(entry)
    twin = build_twin(entry["upstream"]["config"].removeprefix("configs/").removesuffix(".py"))
    state = convert(twin.state_dict(), entry)
    build_with_weights(lambda: create_from_config(entry), state, what=f"converted keys of {entry['name']!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pattern", nargs="?", default="*", help="catalog names, shell-style (default: all)")
    parser.add_argument("--one-per-structure", action="store_true", help="the first entry of each structure only")
    parser.add_argument("--json", metavar="PATH", help="write the per-entry results here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    entries = mmseg_entries(args.pattern, one_per_structure=args.one_per_structure)
    results = []
    for entry in entries:
        t = time.perf_counter()
        try:
            check_entry(entry)
            error = None
        except Exception as err:  # noqa: BLE001 - every failure is reported and counted, the run goes on
            error = f"{type(err).__name__}: {' '.join(str(err).split())}"
        seconds = time.perf_counter() - t
        results.append({"name": entry["name"], "ok": error is None, "error": error, "seconds": round(seconds, 2)})
        status = "ok  " if error is None else "FAIL"
        print(f"{status} {entry['name']} ({seconds:.1f} s){'' if error is None else ': ' + error}", flush=True)
    failed = [r for r in results if not r["ok"]]
    total = time.perf_counter() - start
    structures = len({structure(e) for e in entries})
    print(
        f"{len(results) - len(failed)}/{len(results)} entries load strictly ({structures} distinct structures), "
        f"{len(failed)} failed, {total:.0f} s"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"entries": results, "seconds": round(total, 1), "structures": structures}, f, indent=2)
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
