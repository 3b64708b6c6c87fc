"""Testing kit for segzoo and its plugins.

* :mod:`segzoo.testing.hub_server`: ``HubServer``, a local Hugging Face Hub-compatible HTTP server, so tests run
  the real ``huggingface_hub`` client (downloads, cache, revisions, uploads) without the network.
* :mod:`segzoo.testing.pytest_plugin`: the ``hub_server`` and ``hf_env`` fixtures
  (``pytest_plugins = ["segzoo.testing.pytest_plugin"]``).

Kept import-cheap on purpose: nothing is imported here (no torch, no huggingface_hub).
"""
