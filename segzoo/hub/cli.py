"""``segzoo catalog pin``: resolve catalog entries' Hub revisions to commits and record their files' sha256 and size
(and, for URL entries, the full sha256 this machine recorded at the first verified download).

Imported by ``segzoo.cli`` to build the parser, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from segzoo.errors import CatalogError


def cmd_catalog_pin(args: argparse.Namespace) -> int:
    from segzoo._catalog import packaged_catalog_path, read_catalog
    from segzoo.hub.pinning import resolve_pin, write_weights

    path = Path(args.catalog) if args.catalog else packaged_catalog_path()
    entries = {e["name"]: e for e in read_catalog(path)}
    unknown = [n for n in args.names if n not in entries]
    if unknown:
        from segzoo._registry import did_you_mean

        raise CatalogError(
            f"{path} has no entry {unknown[0]!r}{did_you_mean(unknown[0], entries)}; give the file "
            "that defines it with --catalog"
        )
    updates = {name: resolve_pin(entries[name]) for name in dict.fromkeys(args.names)}
    changed = {name: w for name, w in updates.items() if w != entries[name]["weights"]}
    if changed and not args.dry_run:
        write_weights(path, changed)
    results = [{"name": n, "weights": w, "changed": n in changed} for n, w in updates.items()]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    verb = "would pin" if args.dry_run else "pinned"
    for r in results:
        w = r["weights"]
        source = w["url"] if "url" in w else "{repo_id}@{revision}/{filename}".format(**w["hub"])
        size = f" ({w['size']} bytes)" if "size" in w else ""
        print(f"{r['name']}: {verb if r['changed'] else 'already pinned'} {source} sha256 {w['sha256']}{size}")
    if changed and not args.dry_run:
        print(f"wrote {path}")
    return 0


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("catalog", help="maintain catalog files (pin Hub entries to commits and hashes)")
    catalog = p.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    pin = catalog.add_parser(
        "pin",
        parents=[common],
        help="resolve revisions to commits and record sha256 and size",
        description="Ask the Hub (HF_ENDPOINT) for each entry's commit, file sha256 and size "
        "and write them into the catalog file, leaving the rest of it unchanged.",
    )
    pin.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="catalog entries: Hub sources are asked from the Hub, URL sources from the trust store",
    )
    pin.add_argument("--catalog", metavar="FILE", help="the catalog file to edit (default: segzoo's registry.json)")
    pin.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    pin.set_defaults(func=cmd_catalog_pin)
