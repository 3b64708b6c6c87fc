"""The one check that a state dict fits a model: same keys, same shapes, one error type (``WeightsError``).

Converters (``remap``, the smp and transformers layouts) and the loader all end here, so a checkpoint that does not
fit reads the same whoever finds it. ``num_batches_tracked`` counters missing from old checkpoints are filled with
zeros: they only count training steps. Keys are named in the checkpoint's own terms when the caller says how
(``checkpoint_name``), so a user can look them up in the file they have.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch

from segzoo.errors import WeightsError

__all__ = ["fit_state_dict"]


def _listing(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def fit_state_dict(
    state: Mapping[str, torch.Tensor],
    expected: torch.nn.Module | Mapping[str, torch.Tensor],
    *,
    what: str,
    checkpoint_name: Callable[[str], str] = str,
    unexpected: Iterable[str] = (),
) -> dict[str, torch.Tensor]:
    """``state`` with exactly the keys of ``expected`` (a model, on any device, or its state dict), in its order.

    Raises one ``WeightsError``, ``"{what}: N missing keys: ...; N unexpected keys: ...; N tensors of another
    shape: ..."``. ``checkpoint_name`` turns a model key back into the checkpoint's (for the message);
    ``unexpected``: checkpoint keys the caller already knows have no place in the model.
    """
    reference = expected.state_dict() if isinstance(expected, torch.nn.Module) else expected
    fitted = dict(state)
    for key in reference:
        if key.endswith("num_batches_tracked") and key not in fitted:
            fitted[key] = torch.zeros((), dtype=torch.long)
    missing = sorted(checkpoint_name(k) for k in reference if k not in fitted)
    extra = [*unexpected, *(checkpoint_name(k) for k in fitted if k not in reference)]
    mismatched = [
        f"{checkpoint_name(k)} {tuple(fitted[k].shape)} (model: {tuple(ref.shape)})"
        for k, ref in reference.items()
        if k in fitted and tuple(fitted[k].shape) != tuple(ref.shape)
    ]
    if missing or extra or mismatched:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing keys: {_listing(missing)}")
        if extra:
            problems.append(f"{len(extra)} unexpected keys: {_listing(extra)}")
        if mismatched:
            problems.append(f"{len(mismatched)} tensors of another shape: {_listing(mismatched, 3)}")
        raise WeightsError(f"{what}: " + "; ".join(problems))
    return {key: fitted[key] for key in reference}
