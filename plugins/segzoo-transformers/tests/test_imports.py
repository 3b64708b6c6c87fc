"""The plugin's modules import one another one way: no cycles (lazy imports included, which is what grimp reads), and
no function-level imports of plugin modules, the usual way a cycle is hidden rather than removed."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

import segzoo_transformers

PACKAGE = "segzoo_transformers"
SOURCES = sorted(Path(segzoo_transformers.__file__).parent.glob("*.py"))


def test_no_import_cycles():
    graph = grimp.build_graph(PACKAGE, include_external_packages=False)
    cycles = [
        (importer, imported, graph.find_shortest_chain(imported, importer))
        for importer in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
        if graph.chain_exists(imported, importer)
    ]
    assert not cycles, f"import cycles (importer, imported, chain back): {cycles}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_plugin_modules_imported_at_module_level(path: Path):
    lazy = []
    for function in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else [PACKAGE]  # relative: inside the plugin
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            lazy += [f"line {node.lineno}: {n}" for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")]
    assert not lazy, f"{path.name} imports plugin modules inside functions: {lazy}"
