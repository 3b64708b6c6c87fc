"""``segzoo new-plugin NAME``: a ready-to-test plugin package generated from the template in ``segzoo/_template``.

The template's files end in ``.tmpl`` (so linters and pytest leave them alone) and use ``{{token}}`` placeholders,
in file names too: ``name`` (``linknet``), ``dist`` (``segzoo-linknet``), ``package`` (``segzoo_linknet``),
``module`` (``linknet``, as a Python identifier), ``Class`` (``Linknet``), ``segzoo_version``, ``encoder`` (the
architecture's default encoder) and ``entry`` (the example catalog entry's name).

Options: lines between ``{{if own_encoder}}`` and ``{{end}}`` (each marker alone on its line, optionally after a
``#``) are kept only with ``--own-encoder``, and those between ``{{if not own_encoder}}`` and ``{{end}}`` only
without it; a file whose name ends in ``.own_encoder.tmpl`` is written only with it.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from segzoo import __version__
from segzoo.errors import SegzooError

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_TOKEN = re.compile(r"\{\{(\w+)\}\}")
_RENAMED = {"gitignore": ".gitignore"}
_BLOCK = re.compile(r"^[ \t]*#?[ \t]*\{\{(if (not )?(\w+)|end)\}\}[ \t]*\n", re.M)
_OPTIONS = ("own_encoder",)


def template_tokens(name: str, package: str | None = None, *, own_encoder: bool = False) -> dict[str, str]:
    """The placeholder values for plugin ``name``; raises SegzooError for names segzoo cannot use."""
    name = name.removeprefix("segzoo-")
    if not _NAME.fullmatch(name):
        raise SegzooError(
            f"plugin name {name!r} must be lower case letters, digits and single dashes, starting with a letter "
            "(e.g. 'linknet' or 'my-decoder')"
        )
    module = name.replace("-", "_")
    package = package or f"segzoo_{module}"
    if not package.isidentifier():
        raise SegzooError(f"package {package!r} is not a valid Python package name")
    return {
        "name": name,
        "dist": f"segzoo-{name}",
        "package": package,
        "module": module,
        "Class": "".join(part.capitalize() for part in name.split("-")),
        "segzoo_version": __version__,
        "encoder": f"{name}-convnet" if own_encoder else "resnet18",
        "entry": f"{name}-{'convnet' if own_encoder else 'resnet18'}-shapes",
    }


def _select(text: str, options: dict[str, bool]) -> str:
    """Keep the ``{{if option}}`` / ``{{if not option}}`` blocks that apply (no nesting) and drop the markers."""
    out, keep, pos = [], True, 0
    for marker in _BLOCK.finditer(text):
        if keep:
            out.append(text[pos : marker.start()])
        pos = marker.end()
        if marker.group(1) == "end":
            keep = True
        else:
            if marker.group(3) not in options:
                raise SegzooError(f"template option {marker.group(3)!r} is unknown")
            keep = options[marker.group(3)] != bool(marker.group(2))
    if keep:
        out.append(text[pos:])
    return "".join(out)


def _render(text: str, tokens: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        if match.group(1) not in tokens:
            raise SegzooError(f"template placeholder {match.group(0)} is unknown")
        return tokens[match.group(1)]

    return _TOKEN.sub(replace, text)


def _walk(folder: Traversable, prefix: tuple[str, ...] = ()):
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.is_dir():
            if item.name != "__pycache__":
                yield from _walk(item, (*prefix, item.name))
        elif item.name.endswith(".tmpl"):
            yield (*prefix, item.name), item


def new_plugin(
    name: str, directory: Path | str = ".", *, package: str | None = None, own_encoder: bool = False
) -> Path:
    """Write the plugin ``segzoo-<name>/`` under ``directory`` and return its path.

    It holds a ``pyproject.toml`` (entry point in the ``segzoo`` group), the package with ``plugin.py`` (one
    architecture, loss, dataset and Hub-hosted catalog entry as examples, registered as lazy factories), tests that
    run segzoo's plugin contract and a Hub round trip against a local server, and a README. ``own_encoder``: the
    plugin also registers its own (non-timm) encoder, the architecture's default. Refuses to write into an existing
    non-empty folder.
    """
    tokens = template_tokens(name, package, own_encoder=own_encoder)
    options = {"own_encoder": own_encoder}
    target = Path(directory) / tokens["dist"]
    if target.exists() and any(target.iterdir()):
        raise SegzooError(f"{target} already exists and is not empty")
    template = resources.files("segzoo") / "_template"
    files = list(_walk(template))
    if not files:
        raise SegzooError("segzoo's plugin template is missing (segzoo/_template); reinstall segzoo")
    for parts, item in files:
        *folders, filename = (_render(part, tokens) for part in parts)
        filename = filename.removesuffix(".tmpl")
        option = next((o for o in _OPTIONS if filename.endswith(f".{o}")), None)
        if option is not None and not options[option]:
            continue
        filename = filename.removesuffix(f".{option}")
        path = target.joinpath(*folders, _RENAMED.get(filename, filename))
        path.parent.mkdir(parents=True, exist_ok=True)
        text = _select(item.read_text(encoding="utf-8"), options)
        path.write_text(_render(text, tokens), encoding="utf-8")
    return target
