"""A weighted sum of registered losses."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

from torch import Tensor, nn

from segzoo.errors import ConfigurationError


class CombinedLoss(nn.Module):
    """``sum_i w_i * loss_i(logits, target)``.

    ``losses`` is either a mapping ``{name: weight}`` or a list of ``(name, weight)`` / ``(name, weight, options)``
    items; a name is any loss in ``segzoo.list_losses()`` (third-party plugins' included, ``"combined"`` too) and may be
    replaced by an ``nn.Module`` instance. Every other keyword (``mode``, ``ignore_index``...) is passed to each named
    component; a component's own ``options`` override them. Only the keywords given are passed, so a component that
    does not take, say, ``mode`` works as long as ``mode`` is not given.

    After each call, ``last_values`` maps component names (``"dice"``, or ``"dice_1"`` for a repeated name) to their
    detached unweighted values, for logging.
    """

    name = "combined"

    def __init__(self, losses, **shared) -> None:
        super().__init__()
        import segzoo

        if isinstance(losses, Mapping):
            items = [(name, weight, {}) for name, weight in losses.items()]
        elif isinstance(losses, (list, tuple)):
            items = []
            for item in losses:
                if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
                    raise ConfigurationError(
                        f"combined: each item of losses must be (name, weight) or (name, weight, options), got {item!r}"
                    )
                items.append((item[0], item[1], item[2] if len(item) == 3 else {}))
        else:
            raise ConfigurationError(
                "combined: losses must be a dict {name: weight} or a list of (name, weight[, "
                f"options]), got {type(losses).__name__}"
            )
        if not items:
            raise ConfigurationError("combined: losses is empty")

        modules, weights, names = [], [], []
        for spec, weight, options in items:
            if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
                raise ConfigurationError(f"combined: the weight of {spec!r} must be a number, got {weight!r}")
            if not isinstance(options, Mapping):
                raise ConfigurationError(f"combined: the options of {spec!r} must be a dict, got {options!r}")
            if isinstance(spec, nn.Module):
                if options:
                    raise ConfigurationError("combined: options apply to named losses, not to a module instance")
                module, label = spec, getattr(spec, "name", None) or type(spec).__name__
            elif isinstance(spec, str):
                try:
                    module = segzoo.create_loss(spec, **{**shared, **options})
                except TypeError as err:
                    raise TypeError(
                        f"combined: component {spec!r} does not accept these options "
                        f"({', '.join(sorted({**shared, **options}))}): {err}"
                    ) from err
                label = spec
            else:
                raise ConfigurationError(f"combined: a component must be a loss name or an nn.Module, got {spec!r}")
            unique, k = label, 1
            while unique in names:
                unique, k = f"{label}_{k}", k + 1
            modules.append(module)
            weights.append(float(weight))
            names.append(unique)
        self.components = nn.ModuleList(modules)
        self.weights = weights
        self.names = names
        self.last_values: dict[str, Tensor] = {}

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        total = None
        values = {}
        for name, weight, loss in zip(self.names, self.weights, self.components):
            value = loss(logits, target)
            values[name] = value.detach()
            total = weight * value if total is None else total + weight * value
        self.last_values = values
        return total

    def extra_repr(self) -> str:
        return "weights={" + ", ".join(f"{n!r}: {w}" for n, w in zip(self.names, self.weights)) + "}"
