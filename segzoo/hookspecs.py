"""The hooks a segzoo plugin may implement.

A plugin is a module (or object) exposed under the ``segzoo`` entry-point group. It implements any subset of the hooks
below, each decorated with :data:`hookimpl`. Every hook receives a ``register`` callable; the plugin calls it once per
thing it contributes. segzoo records which plugin registered what, so clashes and missing packages can be reported by
name.

Example (``pyproject.toml`` of a plugin)::

    [project.entry-points.segzoo]
    linknet = "segzoo_linknet.plugin"

and in ``segzoo_linknet/plugin.py``::

    import segzoo

    SEGZOO_PLUGIN_API = 1

    @segzoo.hookimpl
    def register_architectures(register):
        register("linknet", "segzoo_linknet.model:build_linknet", default_encoder="resnet34",
                 description="LinkNet (Chaurasia 2017)")
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT = "segzoo"
#: Version of the plugin API described here. A plugin may set ``SEGZOO_PLUGIN_API`` to the version it targets.
PLUGIN_API_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callable passed to every hook: ``register(name, obj, *, override=False, **metadata)``.

    ``obj`` of an architecture, encoder, loss, dataset or converter is either the callable itself or a *lazy
    factory*: the string ``"package.module:attribute"`` (e.g. ``"segzoo_linknet.model:build_linknet"``; the
    attribute may be dotted, ``"module:Class.method"``). segzoo imports it the first time the entry is used
    (``segzoo.create``, ``segzoo.registry.get(kind, name).obj``...) and caches it, so discovery imports no model code
    and no torch. A malformed string breaks the plugin at registration; one that cannot be imported raises
    :class:`segzoo.errors.PluginError` naming the plugin when used. A catalog entry (``register_catalog``) is a dict.

    ``override=True`` replaces an entry registered under the same name by segzoo, a first-party plugin or another
    plugin, on purpose. Without it the plugin that takes a taken name is refused (nothing it registered is kept),
    with an error naming both packages; when several third-party plugins register one name, it goes to the only one
    that says ``override=True``, or else all of them are refused. Neither package names nor installation order
    change the outcome.
    """

    def __call__(self, name: str, obj: Any, *, override: bool = False, **metadata: Any) -> None: ...


@hookspec
def register_architectures(register: Register) -> None:
    """Register model builders.

    ``obj`` is a callable
    ``build(*, encoder: str, num_classes: int, in_channels: int, pretrained_encoder: bool, **options)`` returning a
    :class:`segzoo.nn.SegmentationModel`; unknown ``options`` must raise ``TypeError``. Register it as the lazy
    factory ``"package.module:build"`` so that discovery imports no torch (see ``Register``).
    Metadata: ``default_encoder`` (str), ``description`` (str), ``paper`` (URL), ``encoders`` (a short note on
    which encoders the design accepts) and ``unsupported`` (``{"onnx" | "onnx_dynamic" | "compile": reason}``, what
    the design cannot do; the contract tests in ``segzoo.testing.contract`` skip those and check the rest).
    """


@hookspec
def register_encoders(register: Register) -> None:
    """Register encoders that are not plain timm backbones (e.g. the original U-Net contracting path).

    ``obj`` is a callable ``build(*, in_channels: int, output_stride: int, pretrained: bool, **options) -> Encoder``
    (``options`` are the ``encoder_options`` a user passes; refuse unknown ones with ``TypeError``), or its lazy
    factory ``"package.module:build"``. Any timm model that supports ``features_only`` is available as an
    encoder without registration.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register loss classes: ``obj(**options)`` returns an ``nn.Module`` called as ``loss(logits, target)``.

    ``obj`` may be the lazy factory ``"package.module:LossClass"``. Options it must accept: ``mode``
    (``"binary"``, ``"multiclass"`` or ``"multilabel"``: the contract creates the loss once per mode it declares)
    and ``ignore_index`` (``segzoo train`` passes the dataset's; target pixels equal to it add nothing to the loss
    or its gradient). Metadata: ``modes`` (the modes it supports, default ``("multiclass",)``), ``description``.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets: ``obj(root, split, **options)`` returns a map-style dataset of ``(image, mask)`` pairs;
    ``obj`` may be the lazy factory ``"package.module:DatasetClass"``.

    Metadata, all required by the contract: ``classes`` (names), ``palette`` (one ``[r, g, b]`` per class),
    ``ignore_index`` (int or None), ``splits``, ``homepage`` (where a user obtains the data) and ``license``;
    optional: ``description``, ``sizes``. The class carries the same values as attributes (a
    :class:`segzoo.data.SegmentationDataset` names its ``homepage`` when the data is not found), and the contract
    checks that both agree.
    """


@hookspec
def register_converters(register: Register) -> None:
    """Register checkpoint converters for a weights ``format`` (the name, e.g. ``"torchvision"``).

    ``obj`` is ``convert(state_dict: dict[str, Tensor], entry: dict) -> dict[str, Tensor]`` that maps an upstream
    state dict onto segzoo's keys for the catalog entry ``entry``, or its lazy factory ``"package.module:convert"``.
    """


@hookspec
def register_catalog(register: Register) -> None:
    """Contribute pretrained-model catalog entries: ``obj`` is one entry (a dict in the ``registry.json`` schema).

    Call ``register(entry["name"], entry)`` once per entry; a list of entries in the module registers nothing by
    itself. Each entry is validated against the schema when registered (``docs/catalog.md`` lists the required
    fields; ``metrics`` is required, ``{"values": {}, "source": "not evaluated"}`` when there are none). Entries
    shipped as ``segzoo-catalog.json`` inside the plugin's package need no hook.
    """
