import os

import pytest
import torch

import tiny_plugin
from segzoo import _plugins

pytest_plugins = ["segzoo.testing.pytest_plugin"]

if os.environ.get("PYTEST_XDIST_WORKER"):  # one intra-op thread per worker: no oversubscription on small machines
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the xdist controller (or a plain run), before any worker starts
        _build_yapf_grammar_cache()


def _build_yapf_grammar_cache() -> None:
    """mmseg imports mmengine, which imports yapf; yapf rebuilds its grammar pickle in the user cache whenever the
    installed grammar file is newer than it (in every fresh venv). Two xdist workers collecting the mmseg parity tests
    at once then race, one reading the other's half-written pickle (EOFError). Build it once, here."""
    try:
        import yapf  # noqa: F401  (builds the grammar pickle on import)
    except ImportError:  # mmseg's dependencies are not installed: nothing to race on
        pass


@pytest.fixture
def tiny():
    """Fresh registries with the test architecture 'tiny' registered, forgotten after the test."""
    _plugins.reset()
    info = _plugins.registries().add_plugin(tiny_plugin, name="tiny", package="segzoo-test-tiny", version="0")
    assert info.status == "ok", info.error
    yield _plugins.registries()
    _plugins.reset()


@pytest.fixture
def one_thread():
    """One torch thread for the test (training tests: stable timings, no oversubscription under xdist)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
