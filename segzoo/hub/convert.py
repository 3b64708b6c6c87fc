"""``segzoo convert NAME FILE -o DIR``: an upstream checkpoint downloaded by hand, as a ``save_pretrained`` folder.

For machines that cannot reach the weights' server (copy the file over, convert, ``segzoo.load(DIR)``) and for
checking a conversion outside the test suite. The file is verified against the catalog entry's sha256 (full or
prefix) unless ``verify=False``, read as tensors only (``torch.load(weights_only=True)``, or safetensors), converted
with the entry's converter and loaded strictly into the entry's model before anything is written.

Imported by ``segzoo.cli`` to build the parser, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from segzoo.errors import WeightsError

log = logging.getLogger("segzoo")

__all__ = ["convert"]


def convert(name: str, file: str | Path, out: str | Path, *, verify: bool = True) -> Path:
    """Convert ``file`` (the upstream checkpoint of catalog entry ``name``) into a ``save_pretrained`` folder ``out``
    that ``segzoo.load(out)`` loads; returns ``out``. ``verify=False`` skips the hash check (with a warning)."""
    from segzoo._plugins import registries
    from segzoo.hub import download
    from segzoo.hub.loading import _read_pickle, _read_safetensors, converter_for, load_from_catalog

    name = _catalog_name(name)
    entry = registries().models.get(name).obj
    path = Path(file)
    if not path.is_file():
        raise WeightsError(f"{path} does not exist or is not a file; give the checkpoint you downloaded for {name!r}")
    converter_for(entry)  # fails first, naming the plugin to install
    weights = entry["weights"]
    source = weights.get("url") or "the entry's Hub file"
    if verify:
        expected = weights.get("sha256")
        if not expected:
            raise WeightsError(
                f"catalog entry {name!r} records no sha256 to check {path.name} against; pass "
                "--no-verify (verify=False) to convert it unchecked"
            )
        actual = download.file_sha256(path)
        if not download.hash_matches(actual, expected):
            raise WeightsError(
                f"{path} has sha256 {actual[:16]}..., but {name!r} expects {expected[:16]}...: it is "
                f"not the checkpoint of this entry ({source}); download that file, or pass "
                "--no-verify to convert it anyway"
            )
    else:
        log.warning(
            "NOT VERIFIED: %s was not checked against the sha256 of %r (--no-verify); the converted "
            "model is only as trustworthy as the file",
            path,
            name,
        )
    what = f"{path.name} (for {name!r})"
    raw = _read_safetensors(path) if path.suffix == ".safetensors" else _read_pickle(path, what)
    model = load_from_catalog(entry, pretrained=True, upstream=raw)
    return model.save_pretrained(out)


def _catalog_name(name: str) -> str:
    """``name`` itself, or the catalog entry whose weights URL is ``name`` or ends with its file name (e.g.
    ``pspnet_r50-d8_512x1024_40k_cityscapes_20200605_003338-2966598c.pth``): upstream files are known by URL."""
    from segzoo._plugins import registries

    models = registries().models
    if name in models:
        return name
    base = name.rstrip("/").split("/")[-1]
    matches = [e.name for e in models if (e.obj["weights"].get("url") or "").split("/")[-1] == base]
    return matches[0] if len(matches) == 1 else name  # none (or several): the lookup says so, with close names


def cmd_convert(args: argparse.Namespace) -> int:
    out = convert(args.name, args.file, args.out, verify=not args.no_verify)
    state = "NOT verified: --no-verify" if args.no_verify else "verified against the catalog's sha256"
    print(f"{args.name}: {args.file} ({state}) converted to {out}; load it with segzoo.load({str(out)!r})")
    return 0


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "convert",
        help="convert an upstream checkpoint downloaded by hand into a save_pretrained folder",
        description="Verify FILE against catalog entry NAME's sha256, convert it with the entry's "
        "converter (mmseg, torchvision or transformers checkpoints) and write a "
        "save_pretrained folder that segzoo.load(DIR) loads.",
    )
    p.add_argument("name", help="catalog name the checkpoint belongs to, or its weights URL or file name")
    p.add_argument("file", help="the checkpoint (.pth/.pt/.bin read with weights_only=True, or .safetensors)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="folder to write")
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 check (prints a warning)")
    p.set_defaults(func=cmd_convert)
