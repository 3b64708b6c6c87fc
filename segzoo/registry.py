"""What the installed plugins registered, for plugin code, tests and tools: look a name up, list a kind, resolve an
encoder name, see which plugins loaded.

Plugins need nothing else from segzoo's internals. Discovery (importing the plugins' hook modules, never their
model code) runs on the first call. Kinds are the plural names ``segzoo plugins`` shows: ``"architectures"``,
``"encoders"``, ``"losses"``, ``"datasets"``, ``"converters"`` (weights formats, e.g. ``"torchvision:deeplabv3"``)
and ``"models"`` (catalog entries).

Example::

    from segzoo import registry

    entry = registry.get("architectures", "unet")
    entry.provider, entry.metadata["default_encoder"]      # ('segzoo-unet', 'resnet34')
    model = entry.obj(encoder="resnet34", num_classes=2, in_channels=3, pretrained_encoder=False)
"""

from __future__ import annotations

from segzoo._plugins import HOOKS, PluginInfo, registries
from segzoo._plugins import reset as _reset
from segzoo._registry import Entry, did_you_mean
from segzoo.errors import UnknownNameError

__all__ = [
    "KINDS",
    "Entry",
    "PluginInfo",
    "add_plugin",
    "entries",
    "get",
    "names",
    "plugin",
    "plugins",
    "reset",
    "resolve_encoder",
]

#: the kinds of registered names
KINDS: tuple[str, ...] = tuple(HOOKS.values())


def _registry(kind: str):
    if kind not in KINDS:
        raise UnknownNameError(f"unknown registry kind {kind!r}{did_you_mean(kind, KINDS)} (kinds: {', '.join(KINDS)})")
    return registries().kind(kind)


def get(kind: str, name: str) -> Entry:
    """The entry registered as ``name``: ``entry.obj`` is the object (a lazy factory is imported now),
    ``entry.provider`` the package that registered it, ``entry.metadata`` the keywords it was registered with.

    An unknown name raises :class:`~segzoo.errors.UnknownNameError` with the closest names and the installed
    plugins that are broken or disabled and could have provided it.
    """
    return _registry(kind).get(name)


def names(kind: str) -> list[str]:
    """The sorted names registered for ``kind``."""
    return _registry(kind).names()


def entries(kind: str) -> list[Entry]:
    """Every entry of ``kind``, sorted by name (lazy factories stay unimported until ``entry.obj`` is read)."""
    return list(_registry(kind))


def resolve_encoder(name: str) -> Entry | None:
    """How an encoder name is built: the plugin-registered encoder's entry, or ``None`` for a timm backbone (built by
    :func:`segzoo.nn.create_encoder`). A name that is neither raises ``UnknownNameError`` with the closest names."""
    encoders = registries().encoders
    if name in encoders:
        return encoders.get(name)
    import timm

    if not timm.is_model(name):
        encoders.get(name, extra_names=timm.list_models())  # raises, with "did you mean"
    return None


def plugins() -> list[PluginInfo]:
    """Every plugin seen, loaded or not: ``package``, ``version``, ``status`` (``ok``, ``broken``, ``disabled``,
    ``incompatible``), ``error`` and ``registered`` (kind -> names), as ``segzoo plugins`` shows them."""
    return list(registries().plugins)


def plugin(package: str) -> PluginInfo | None:
    """The plugin of a distribution (``"segzoo-unet"``) or entry-point name, or ``None`` if it was not seen."""
    return registries().plugin(package)


def add_plugin(obj: object, *, package: str, name: str | None = None, version: str | None = None) -> PluginInfo:
    """Register a plugin object (a module or an instance with hook implementations) in this process, e.g. in a test
    or a notebook, under the same rules as an installed plugin: all or nothing, no name taken without
    ``override=True``. Returns its :class:`PluginInfo`; check ``status`` (``"ok"``) and ``error``."""
    return registries().add_plugin(obj, name=name or package, package=package, version=version)


def reset() -> None:
    """Forget what was discovered and added; the next call discovers the installed plugins again (after changing
    ``SEGZOO_PLUGINS``, ``SEGZOO_REGISTRY``... in a running process)."""
    _reset()
