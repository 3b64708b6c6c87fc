"""The ``segzoo`` command: human-readable tables by default, ``--json`` for scripts, one-line errors."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import segzoo
from segzoo._text import table

log = logging.getLogger("segzoo")


def _emit(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, indent=2) if args.json else human)


def _metric_summary(entry: dict) -> str:
    values = entry["metrics"]["values"]
    for key in ("mIoU", "mDice", "pixel_accuracy"):
        if key in values:
            return f"{key} {values[key]:g}"
    return "-"


def _installed(entry: dict) -> str:
    """The ``installed`` column of ``segzoo list``: yes, or why not in a few words."""
    problem = entry.get("unavailable")
    if entry["available"] or not problem:
        return "yes"
    reason, package = problem["reason"], problem["package"]
    if reason == "not installed":
        return f"pip install {package}"
    if reason == "disabled":
        from segzoo import registry

        plugin = registry.plugin(package)
        return (plugin.error if plugin and plugin.error else "disabled") + f": {package}"  # "disabled by SEGZOO_..."
    if reason == "replaced":
        return f"replaced by {package} (override=True)"
    return f"{reason}: {package}, see segzoo plugins"


def cmd_list(args: argparse.Namespace) -> int:
    names = segzoo.list_models(args.pattern)
    entries = [segzoo.info(n) for n in names]
    unpinned = any(not e.get("pinned", True) for e in entries)
    rows = [
        [
            e["name"] + ("" if e.get("pinned", True) else " *"),
            e["architecture"],
            e["encoder"],
            e["num_classes"],
            e["dataset"]["eval"],
            _metric_summary(e),
            _installed(e),
        ]
        for e in entries
    ]
    human = table(rows, ["name", "architecture", "encoder", "classes", "evaluated on", "metric", "installed"])
    if unpinned:
        human += "\n* weights not pinned to a commit and sha256 yet (see segzoo info NAME)"
    if not names:
        human = f"no catalog model matches {args.pattern!r}"
    _emit(args, entries, human)
    return 0


def cmd_architectures(args: argparse.Namespace) -> int:
    from segzoo import registry

    entries = registry.entries("architectures")
    data = [{"name": e.name, "provided_by": e.provider, **{k: v for k, v in e.metadata.items()}} for e in entries]
    rows = [
        [e.name, e.metadata.get("default_encoder", "-"), e.provider, e.metadata.get("description", "")] for e in entries
    ]
    _emit(args, data, table(rows, ["architecture", "default encoder", "package", "description"]))
    return 0


def _training_summary(training: dict) -> str:
    crop = training.get("crop_size")
    parts = [
        f"{crop[0]}x{crop[1]} crops" if crop else "",
        f"{training['iterations']:,} iterations" if training.get("iterations") else "",
        f"batch {training['batch_size']}" if training.get("batch_size") else "",
        training.get("resources", ""),
    ]
    return ", ".join(p for p in parts if p)


def cmd_info(args: argparse.Namespace) -> int:
    entry = segzoo.info(args.name)
    weights = entry["weights"]
    source = weights.get("url") or "hf://{repo_id}/{filename}@{revision}".format(**weights["hub"])
    lines = [
        f"{entry['name']}: {entry.get('description', '')}".rstrip(": "),
        f"  architecture  {entry['architecture']} (encoder {entry['encoder']}, options {entry.get('options', {})})",
        f"  classes       {entry['num_classes']}: {', '.join(entry['class_names'][:8])}"
        + (" ..." if entry["num_classes"] > 8 else ""),
        f"  trained on    {entry['dataset']['train']}",
        f"  evaluated on  {entry['dataset']['eval']}",
        "  metrics       "
        + (", ".join(f"{k} {v:g}" for k, v in entry["metrics"]["values"].items()) or "-")
        + f" (source: {entry['metrics']['source']})",
        *([f"  protocol      {entry['metrics']['protocol']}"] if entry["metrics"].get("protocol") else []),
        *([f"  training      {_training_summary(entry['training'])}"] if entry.get("training") else []),
        f"  weights       {source} [{weights['format']}], sha256 {weights.get('sha256') or 'from the Hub ETag'}",
        f"  pinned        {'yes' if entry['pinned'] else 'no'}: {entry['pin_reason']}",
        f"  license       {entry['license']}",
        f"  paper         {entry['paper']['title']} {entry['paper']['url']}",
        f"  package       {entry['requires']} ({'installed' if entry['available'] else _installed(entry)})",
    ]
    _emit(args, entry, "\n".join(lines))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from segzoo._plugins import registries

    def trace(line: str) -> None:  # flushed before each import, so a plugin that hangs is the last line shown
        print(f"segzoo: {line}", file=sys.stderr, flush=True)

    infos = [p.as_dict() for p in registries(trace=trace if args.trace else None).plugins]
    rows = []
    for p in infos:
        what = (
            "; ".join(
                f"{kind}: {', '.join(names)}"
                if len(names) <= 4
                else f"{kind}: {len(names)} ({', '.join(names[:2])}, ...)"
                for kind, names in p["registered"].items()
            )
            or "-"
        )
        what += "".join(
            f"; replaced by another package ({kind}): " + ", ".join(f"{name} by {by}" for name, by in names.items())
            for kind, names in p["replaced"].items()
        )
        rows.append([p["package"] or p["name"], p["version"] or "-", p["status"], p["error"] or what])
    _emit(args, infos, table(rows, ["package", "version", "status", "registered / error"]))
    return 0


def _parameter_count(entry: dict, state: dict) -> int | None:
    """Learnable parameters among the checkpoint's tensors (BatchNorm statistics and other buffers are state, not
    parameters), found by building the architecture on the meta device; None when it is not installed."""
    import torch

    from segzoo._api import create_from_config

    if not entry.get("available"):
        return None
    try:
        with torch.device("meta"):
            model = create_from_config(entry)
    except Exception:  # noqa: BLE001 - a constructor that computes on tensors: build it for real
        model = create_from_config(entry)
    names = {n for n, _ in model.named_parameters()}
    return int(sum(t.numel() for k, t in state.items() if k in names))


def cmd_download(args: argparse.Namespace) -> int:
    from segzoo.hub.loading import catalog_state_dict

    results = []
    for name in args.names:
        entry = segzoo.info(name)
        state = catalog_state_dict(entry)
        params = _parameter_count(entry, state)
        results.append({"name": name, "tensors": len(state), "parameters": params})
        if not args.json:
            size = f"{params:,} parameters" if params is not None else f"{len(state):,} tensors"
            print(f"{name}: downloaded, verified and cached ({size})")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


#: modules that add their own sub-commands with ``add_commands(sub, common)``; they must import cheaply
COMMAND_MODULES: list[str] = [
    "segzoo.train.cli",
    "segzoo.evaluation.cli",
    "segzoo.inference.cli",
    "segzoo.hub.cli",
    "segzoo.hub.convert",
]


def cmd_publish(args: argparse.Namespace) -> int:
    from segzoo.hub.serialization import publish_directory

    result = publish_directory(args.directory, args.repo_id, private=args.private, token=args.token)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"published {args.directory} to {result['repo_id']} at commit {result['revision']}")
        print("catalog weights entry:")
        print(json.dumps(result["weights"], indent=2))
    return 0


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from segzoo.newplugin import new_plugin

    path = new_plugin(args.name, args.dir, own_encoder=args.own_encoder)
    print(f"created {path}\nnext: cd {path} && pip install -e '.[test]' && pytest")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from segzoo import __version__
    from segzoo._boundary import OneLineParser

    parser = OneLineParser(prog="segzoo", description="A plugin-based model zoo for semantic segmentation.")
    parser.add_argument("--version", action="version", version=f"segzoo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details and full tracebacks")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", parents=[common], help="list catalog models")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'deeplabv3-*'")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("architectures", parents=[common], help="list registered architectures")
    p.set_defaults(func=cmd_architectures)
    p = sub.add_parser("info", parents=[common], help="everything the catalog knows about a model")
    p.add_argument("name")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("plugins", parents=[common], help="installed plugins, what they registered, broken ones")
    p.add_argument(
        "--trace",
        action="store_true",
        help="print each plugin as it is imported, with its time, on stderr (find one that hangs)",
    )
    p.set_defaults(func=cmd_plugins)
    p = sub.add_parser("download", parents=[common], help="download, verify and cache models' weights")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(func=cmd_download)
    p = sub.add_parser("publish", parents=[common], help="push a save_pretrained directory to a Hub model repo")
    p.add_argument("directory", help="a folder written by save_pretrained (config.json, model.safetensors, README.md)")
    p.add_argument("repo_id", help="org/name of the Hub model repository (created if missing)")
    p.add_argument("--private", action="store_true")
    p.add_argument("--token", help="Hub token (default: HF_TOKEN or the stored login)")
    p.set_defaults(func=cmd_publish)
    p = sub.add_parser("new-plugin", help="create a working third-party plugin package from the template")
    p.add_argument("name", help="short name, e.g. 'linknet' -> package segzoo-linknet")
    p.add_argument("--dir", default=".", help="where to create it (default: here)")
    p.add_argument(
        "--own-encoder",
        action="store_true",
        help="also register the plugin's own (non-timm) encoder, used by default by its architecture",
    )
    p.set_defaults(func=cmd_new_plugin)
    import contextlib
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module).add_commands(sub, common)
    for command in sub.choices.values():  # `segzoo predict ... -v` as well as `segzoo -v predict ...`
        with contextlib.suppress(argparse.ArgumentError):  # a command that has its own -v, or an alias seen twice
            command.add_argument(
                "-v",
                "--verbose",
                action="store_true",
                default=argparse.SUPPRESS,
                help="log details and full tracebacks",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; whatever it raises becomes one line on stderr (see :mod:`segzoo._boundary`)."""
    from segzoo._boundary import configure_logging, run_command

    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    return run_command(args.func, args, verbose=args.verbose)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
