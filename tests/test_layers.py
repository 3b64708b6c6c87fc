"""The import layers of docs/architecture.md hold: import-linter's contracts (.importlinter) pass, and CI runs them;
and imports inside functions stay where docs/architecture.md says they may ("Lazy imports: where and why")."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_import_linter():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"<!-- test-command -->\n```\n(.+?)\n```", readme, re.S).group(1)
    assert "lint-imports" in command.split("pytest")[0], "the README's test command must lint imports before pytest"
    config = (ROOT / ".importlinter").read_text()
    assert "type = layers" in config and "type = acyclic_siblings" in config


@pytest.mark.slow
def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e .[test])")
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


# -- lazy imports: only at the boundaries (docs/architecture.md, "Lazy imports: where and why") ------------------------

#: What a light module may not import at module level: torch and the libraries built on it, the Hub client, the
#: schema validator, image and plotting libraries. ``huggingface_hub.constants`` (cache paths) is the exception.
HEAVY = {"torch", "timm", "torchvision", "huggingface_hub", "httpx2", "PIL", "numpy", "jsonschema", "tqdm"}
HEAVY |= {"safetensors", "matplotlib", "onnx", "onnxruntime", "onnxscript", "transformers", "mmseg", "pytest"}
LIGHT_HUB = {"huggingface_hub", "huggingface_hub.constants"}

#: Imported inside a function in any module: optional dependencies, and heavy libraries only one kind of model or
#: command needs. Each with why.
DEFERRED = {
    "onnx": "optional (segzoo[onnx]): ONNX export and int8",
    "onnxruntime": "optional (segzoo[onnx]): the onnxruntime engine, int8, the export check",
    "onnxscript": "optional (segzoo[onnx]): the dynamo exporter",
    "mmseg": "tests only: segzoo.testing.mmseg builds mmsegmentation twins",
    "mmengine": "tests only, with mmseg",
    "yaml": "tests only: mmseg's metafiles (installed with mmengine)",
    "pytest": "segzoo.testing.hub also runs as a script (python -m segzoo.testing.hub), without pytest",
    "numpy": "not a dependency of segzoo (torch runs without it)",
    "torchvision": "not a dependency of segzoo: the torchvision MobileNetV3 encoder only",
    "timm": "about as long to import as torch again (with torchvision): timm encoders only",
    "matplotlib": "plots only (bench's leaderboard plot, training curves)",
    "torch._dynamo": "the compiler, seconds to import: the contract's torch.compile check only",
    "fcntl": "POSIX only (the trust store's file lock has a fallback)",
    "resource": "POSIX only (peak memory has a fallback)",
}

#: Single in-function imports that stay for a reason of their own, or that wait for a change in progress elsewhere.
#: Each entry must still be in the code (test_the_lazy_import_allowlist_is_not_stale).
PER_MODULE = {
    ("segzoo.testing.hub", "segzoo.testing.pytest_plugin"): "imports pytest, which the script use does not need",
}

_LIGHT_PATHS = """
import json, sys
import segzoo
segzoo.list_models(); segzoo.list_architectures(); segzoo.list_losses(); segzoo.list_datasets()
for name in segzoo.list_models()[:3]:
    segzoo.info(name)
import segzoo.cli
segzoo.cli.build_parser()
print(json.dumps({"segzoo": sorted(m for m in sys.modules if m.split(".")[0] == "segzoo"),
                  "others": sorted(m for m in sys.modules if m.split(".")[0] != "segzoo"),
                  "commands": ["segzoo.cli", *segzoo.cli.COMMAND_MODULES]}))
"""


@pytest.fixture(scope="module")
def light_paths():
    """The modules that ``import segzoo``, plugin discovery, ``segzoo.info`` and ``segzoo --help`` load."""
    out = subprocess.run([sys.executable, "-c", _LIGHT_PATHS], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_segzoo_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def function_level_imports() -> list[tuple[str, int, str]]:
    """``(module, line, imported module)`` for every import inside a function in segzoo/ (``from a import b``
    counts as ``a.b`` when that is a segzoo module)."""
    found = []
    for path in sorted((ROOT / "segzoo").rglob("*.py")):
        if "_template" in path.parts:
            continue
        module = _module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(func):
                if isinstance(node, ast.Import):
                    found += [(module, node.lineno, alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    source = node.module or ""
                    if node.level:
                        base = module.split(".")[: -node.level] if path.name != "__init__.py" else module.split(".")
                        source = ".".join([*base, source] if source else base)
                    for alias in node.names:
                        sub = f"{source}.{alias.name}"
                        found.append((module, node.lineno, sub if _is_segzoo_module(sub) else source))
    return sorted(set(found))


def _deferred(target: str) -> bool:
    return any(target == name or target.startswith(name + ".") for name in DEFERRED)


def test_function_level_imports_stay_at_the_boundaries(light_paths):
    """An import inside a function is allowed only where it keeps ``import segzoo``, discovery and ``segzoo --help``
    light (a light module deferring something heavy), in the command modules (each command imports its work when it
    runs), or for an optional or single-use heavy dependency (``DEFERRED``, ``PER_MODULE``); everywhere else imports
    are at the top of the module, where a reader sees what the module depends on."""
    light, commands = set(light_paths["segzoo"]), set(light_paths["commands"])

    def allowed(module: str, target: str) -> bool:
        top = target.split(".")[0]
        if module in commands or _deferred(target) or (module, target) in PER_MODULE:
            return True
        if module in light:  # a light module defers what is heavy: a heavy library or a heavy segzoo module
            return top in HEAVY or (top == "segzoo" and target not in light and target != "segzoo")
        return False

    imports = function_level_imports()
    assert len(imports) > 20, "the walk found too few imports: is it looking at segzoo/?"
    problems = [
        f"{module.replace('.', '/')}.py:{line}: imports {target} inside a function"
        for module, line, target in imports
        if not allowed(module, target)
    ]
    assert not problems, (
        "move these imports to the top of their module; if one must stay lazy, add it with its reason to "
        "tests/test_layers.py (DEFERRED or PER_MODULE) and docs/architecture.md:\n" + "\n".join(problems)
    )


def test_the_lazy_import_allowlist_is_not_stale():
    present = {(module, target) for module, _, target in function_level_imports()}
    stale = sorted(set(PER_MODULE) - present)
    assert not stale, f"no longer imported inside a function, remove from PER_MODULE: {stale}"


def test_light_paths_import_nothing_heavy(light_paths):
    """``import segzoo``, discovery, ``segzoo.info`` and ``segzoo --help`` load no heavy library (the Hub client's
    cache-path constants aside), which is what lets their modules defer imports at all."""
    heavy = sorted(m for m in light_paths["others"] if m.split(".")[0] in HEAVY and m not in LIGHT_HUB)
    assert not heavy, f"the light paths imported {heavy[:10]}"
    assert {"segzoo._plugins", "segzoo.cli", "segzoo.hub.pinning"} <= set(light_paths["segzoo"])
