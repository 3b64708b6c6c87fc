"""Building untrained models from the registry: the factory layer under ``segzoo.hub`` (which loads weights into
what it builds) and over ``segzoo.nn`` (the modules). ``segzoo.create`` is :func:`create`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from segzoo._boundary import calling
from segzoo._plugins import registries
from segzoo._registry import Entry, check_options
from segzoo.errors import ConfigurationError, NameClashError, PluginNotInstalledError, SegzooError

if TYPE_CHECKING:
    from segzoo.nn.model import SegmentationModel

__all__ = ["MAX_CLASSES", "MAX_IN_CHANNELS", "architecture_entry", "check_count", "create", "create_from_config"]


def architecture_entry(arch: str, *, needed_by: str | None = None) -> Entry:
    """The architecture's registry entry, or an error saying which package to install, or which plugin is broken,
    disabled or has replaced the one the catalog model ``needed_by`` requires."""
    requires = None
    if needed_by is not None and needed_by in registries().models:
        requires = registries().models.get(needed_by).obj["requires"]
    problem = _unavailable(arch, needed_by=needed_by, requires=requires)
    if problem is not None:
        reason, _, message = problem
        if reason == "unknown":
            return registries().architectures.get(arch)  # unknown everywhere: raises with "did you mean"
        raise (NameClashError if reason == "replaced" else PluginNotInstalledError)(message)
    return registries().architectures.get(arch)


def _unavailable(
    arch: str, *, needed_by: str | None = None, requires: str | None = None
) -> tuple[str, str, str] | None:
    """``(reason, package, message)`` when ``arch`` cannot serve the catalog model ``needed_by`` (whose entry names
    ``requires``), ``None`` when it can. A required plugin that is loaded but registers no ``arch`` (one that only
    converts weights for it, say) is fine; one whose ``arch`` another plugin replaced is not."""
    regs = registries()
    subject = f"model {needed_by!r} needs architecture {arch!r}" if needed_by else f"architecture {arch!r}"
    provider = regs.architectures.get(arch).provider if arch in regs.architectures else None
    if provider is not None and (requires is None or provider == requires):
        return None
    providers = (
        [requires] if requires else sorted({m.obj["requires"] for m in regs.models if m.obj["architecture"] == arch})
    )
    elsewhere = f" ({arch!r} here comes from {provider!r})" if provider else ""
    for package in providers:
        plugin = regs.plugin(package)
        if plugin is None:
            continue
        if plugin.status == "disabled":
            return (
                "disabled",
                package,
                f"{subject}, provided by {package!r}, which is installed but {plugin.error or 'disabled'}{elsewhere}",
            )
        if plugin.status != "ok":
            return (
                plugin.status,
                package,
                f"{subject}, provided by {package!r}, which is installed but "
                f"{plugin.status}: {plugin.error}{elsewhere} (see `segzoo plugins`)",
            )
        if provider is None:
            continue
        if arch in plugin.attempted.get("architectures", []):
            return (
                "replaced",
                provider,
                f"{subject} from {package!r}, but {provider!r} replaced it (override=True): uninstall "
                f"{provider}, or skip it with SEGZOO_DISABLE_PLUGINS={provider}",
            )
        return None
    if providers:
        return (
            "not installed",
            providers[0],
            f"{subject}, provided by {providers[0]!r}, which is not installed{elsewhere}: pip install {providers[0]}",
        )
    return None if provider else ("unknown", "", f"unknown architecture {arch!r}")


#: bounds of ``num_classes`` and ``in_channels``: beyond them a value is a typo, and building the model would exhaust
#: memory before saying anything (a 256-channel head for 10**9 classes needs 1 TB)
MAX_CLASSES = 65_536
MAX_IN_CHANNELS = 4_096


def check_count(name: str, value: Any, maximum: int) -> None:
    """Refuse, in one line, a class or channel count that is not an integer from 1 to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if not 1 <= value <= maximum:
        raise ConfigurationError(f"{name} must be from 1 to {maximum:,}, got {value:,}")


#: the arguments ``create`` gives every architecture's builder itself; the rest are the architecture's own options
_COMMON_ARGUMENTS = ("encoder", "num_classes", "in_channels", "pretrained_encoder")


def create(
    arch: str,
    encoder: str | None = None,
    num_classes: int = 1,
    in_channels: int = 3,
    *,
    pretrained_encoder: bool = False,
    **options: Any,
) -> SegmentationModel:
    """Build an untrained model from a registered architecture and an encoder (any timm ``features_only`` backbone
    or a plugin-registered encoder). ``pretrained_encoder=True`` loads the encoder's ImageNet weights."""
    from segzoo.nn.model import SegmentationModel  # torch: not at import, which discovery and `segzoo list` share

    entry = architecture_entry(arch)
    encoder = encoder or entry.metadata.get("default_encoder")
    if not encoder:
        raise SegzooError(f"architecture {arch!r} has no default encoder; pass encoder=...")
    check_count("num_classes", num_classes, MAX_CLASSES)
    check_count("in_channels", in_channels, MAX_IN_CHANNELS)
    check_options(f"architecture {arch!r}", entry.obj, options, passed_by_segzoo=_COMMON_ARGUMENTS)
    with calling(entry):
        model = entry.obj(
            encoder=encoder,
            num_classes=num_classes,
            in_channels=in_channels,
            pretrained_encoder=pretrained_encoder,
            **options,
        )
    if not isinstance(model, SegmentationModel):
        raise SegzooError(
            f"architecture {arch!r} from {entry.provider!r} returned {type(model).__name__}, not a SegmentationModel"
        )
    model.config = {
        "architecture": arch,
        "encoder": encoder,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "options": dict(options),
    }
    return model


def create_from_config(config: dict[str, Any]) -> SegmentationModel:
    """``create`` with the fields a catalog entry or a saved ``config.json`` records."""
    return create(
        config["architecture"],
        encoder=config["encoder"],
        num_classes=config["num_classes"],
        in_channels=config.get("in_channels", 3),
        **config.get("options", {}),
    )
