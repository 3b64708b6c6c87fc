import pytest

import tiny_plugin
from segzoo import _plugins

pytest_plugins = ["segzoo.testing.pytest_plugin"]


@pytest.fixture
def tiny():
    """Fresh registries with the test architecture 'tiny' registered, forgotten after the test."""
    _plugins.reset()
    info = _plugins.registries().add_plugin(tiny_plugin, name="tiny", package="segzoo-test-tiny", version="0")
    assert info.status == "ok", info.error
    yield _plugins.registries()
    _plugins.reset()
