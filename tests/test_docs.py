import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_hook_reference_in_docs_is_generated_from_the_hookspecs():
    spec = importlib.util.spec_from_file_location("gen_hook_docs", ROOT / "scripts" / "gen_hook_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = (ROOT / "docs" / "plugins.md").read_text()
    assert gen.render(text) == text, "docs/plugins.md is stale: run python scripts/gen_hook_docs.py"
    assert "### `register_architectures(register: Register) -> None`" in text


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- test-command -->\n```\n(.+?)\n```\n<!-- /test-command -->", readme, re.S)
    assert block and "pytest" in block.group(1)
    assert "test-command" in (ROOT / ".ci" / "run").read_text()
    assert len(re.findall(r"<!-- (?:main|test)-command -->", readme)) == 2


def test_documented_python_api_exists():
    import segzoo

    for name in ("create", "load", "list_models", "list_architectures", "info", "hookimpl", "SegmentationModel"):
        assert getattr(segzoo, name) is not None
        assert name in (ROOT / "docs" / "index.md").read_text(), f"{name} undocumented"
