"""Testing kit for segzoo and its plugins.

* :func:`check_plugin` (from :mod:`segzoo.testing.contract`): every contract check of one plugin in one call;
  :func:`segzoo.testing.contract.parametrize_with_checks` makes them pytest items.
* :mod:`segzoo.testing.hub_server`: ``HubServer``, a local Hugging Face Hub-compatible HTTP server, so tests run
  the real ``huggingface_hub`` client (downloads, cache, revisions, uploads) without the network;
  :mod:`segzoo.testing.hub` serves it from the command line (``python -m segzoo.testing.hub serve DIR``).
* :mod:`segzoo.testing.pytest_plugin`: the ``hub_server`` and ``hf_env`` fixtures
  (``pytest_plugins = ["segzoo.testing.pytest_plugin"]``).

Kept import-cheap on purpose: nothing is imported here until used (no torch, no huggingface_hub).
"""

from __future__ import annotations

from segzoo._lazy import lazy_attributes

__all__ = ["check_plugin"]
__getattr__, __dir__ = lazy_attributes(globals(), {"check_plugin": "segzoo.testing.contract"})
