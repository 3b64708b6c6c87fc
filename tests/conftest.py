import os

import pytest
import torch

import tiny_plugin
from segzoo import _plugins

pytest_plugins = ["segzoo.testing.pytest_plugin"]

if os.environ.get("PYTEST_XDIST_WORKER"):  # one intra-op thread per worker: no oversubscription on small machines
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def tiny():
    """Fresh registries with the test architecture 'tiny' registered, forgotten after the test."""
    _plugins.reset()
    info = _plugins.registries().add_plugin(tiny_plugin, name="tiny", package="segzoo-test-tiny", version="0")
    assert info.status == "ok", info.error
    yield _plugins.registries()
    _plugins.reset()
