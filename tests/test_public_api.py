"""First-party plugins and examples use only segzoo's documented public modules, as a third party must.

The public modules are the ones listed in docs/index.md ("Public modules"); the test reads that list, so the docs and
the check cannot drift.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- public-modules:begin -->", "<!-- public-modules:end -->"


def public_modules() -> set[str]:
    """The listed modules; ``segzoo.testing.*`` stands for every public submodule of ``segzoo.testing``."""
    text = (ROOT / "docs" / "index.md").read_text()
    block = text[text.index(BEGIN) : text.index(END)]
    return set(re.findall(r"`(segzoo(?:\.\w+)*(?:\.\*)?)`", block))


def is_public(module: str, public: set[str]) -> bool:
    return module in public or any(p.endswith(".*") and module.startswith(p[:-1]) for p in public)


def segzoo_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, imported name or None) for each import of segzoo code in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "segzoo"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "segzoo":
            found += [(node.lineno, node.module, a.name) for a in node.names]
    return found


def private_uses(path: Path, public: set[str]) -> list[str]:
    problems = []
    for line, module, name in segzoo_imports(path):
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{line}"
        if any(part.startswith("_") for part in module.split(".")):
            problems.append(f"{where}: imports private module {module}")
        elif name is not None and name.startswith("_"):
            problems.append(f"{where}: imports private name {module}.{name}")
        elif name is not None and is_public(f"{module}.{name}", public):
            continue  # a public submodule imported by name: from segzoo.testing import contract
        elif not is_public(module, public):
            problems.append(f"{where}: imports {module}, which docs/index.md does not list as public")
    return problems


def sources() -> list[Path]:
    files = [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "examples").rglob("*.py")]
    return sorted(f for f in files if not {"build", ".venv"} & set(f.parts) and ".egg-info" not in str(f))


def test_plugins_and_examples_import_only_public_segzoo_modules():
    public = public_modules()
    assert {"segzoo", "segzoo.registry", "segzoo.nn", "segzoo.errors"} <= public
    files = sources()
    assert len(files) > 30, "the plugins were not found"
    problems = [p for f in files for p in private_uses(f, public)]
    assert not problems, "plugins and examples must use segzoo's public API:\n" + "\n".join(problems)


def test_every_listed_public_module_exists():
    import importlib.util

    missing = [m for m in sorted(public_modules()) if importlib.util.find_spec(m.removesuffix(".*")) is None]
    assert not missing, f"docs/index.md lists public modules that do not exist: {missing}"


def test_the_check_catches_private_imports(tmp_path):
    """The check itself can fail: each kind of private use is reported."""
    bad = tmp_path / "plugin.py"
    bad.write_text(
        "import segzoo._plugins\nfrom segzoo._api import info\nfrom segzoo.data.base import _ranges\n"
        "from segzoo.hub.serialization import publish_directory\nfrom segzoo.testing import contract\n"
    )
    problems = private_uses(bad, public_modules())
    assert [p.split(": ", 1)[1] for p in problems] == [
        "imports private module segzoo._plugins",
        "imports private module segzoo._api",
        "imports private name segzoo.data.base._ranges",
        "imports segzoo.hub.serialization, which docs/index.md does not list as public",
    ]


def test_lazy_public_names_are_not_replaced_by_submodules_of_the_same_name():
    """Importing ``pkg.name`` sets the attribute ``pkg.name`` to that submodule, so a lazily exported function
    (``segzoo.evaluation.evaluate``) must not share its name with a module in the same package."""
    import importlib
    import importlib.util

    for package in ("segzoo", "segzoo.data", "segzoo.evaluation", "segzoo.inference", "segzoo.train"):
        table = importlib.import_module(package)._LAZY
        for name, target in table.items():
            if target != f"{package}.{name}":  # not a submodule exported as such
                assert importlib.util.find_spec(f"{package}.{name}") is None, f"{package}.{name} is a module"
    import segzoo.evaluation.cli  # noqa: F401  (imports the evaluation modules, as `segzoo eval` does)
    from segzoo import evaluation

    assert callable(evaluation.evaluate) and callable(evaluation.fingerprint)
