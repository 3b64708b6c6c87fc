"""The ``save_pretrained`` folder: ``config.json`` + ``model.safetensors`` + a ``README.md`` model card.

It sits in ``nn`` because writing it is a method of the model (:meth:`SegmentationModel.save_pretrained`) and needs
nothing but the model: no Hub, no network. Reading it back (``segzoo.load(dir)``) and publishing it
(``segzoo.push_to_hub``, ``segzoo publish``) live in ``segzoo.hub``, which takes the file names from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import nn

from segzoo import __version__
from segzoo.errors import SegzooError

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "default_model_card", "save_pretrained"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def save_pretrained(model: nn.Module, directory: str | Path, *, model_card: str | None = None) -> Path:
    """Write ``model`` (a model with a ``config``, as :func:`segzoo.create` and :func:`segzoo.load` give) to
    ``directory``: what ``segzoo.load(directory)`` loads back. Returns the directory."""
    config: dict[str, Any] = getattr(model, "config", None) or {}
    if not config.get("architecture"):
        raise SegzooError("this model has no config (build it with segzoo.create or segzoo.load to save it)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"segzoo_version": __version__, **config}
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # one metadata key: safetensors writes several in random order, which would change the sha256 of equal weights
    save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
    (directory / "README.md").write_text(model_card if model_card is not None else default_model_card(config))
    return directory


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"


def default_model_card(config: dict[str, Any]) -> str:
    """The README.md of a saved model. Worded without articles ("a"/"an") so that it reads right for any name, and
    without repeating the name of an architecture that is its own encoder (``enet``, not ``enet-enet``)."""
    arch, encoder = config["architecture"], config.get("encoder")
    own_encoder = not encoder or encoder == arch
    name = config.get("name") or (arch if own_encoder else f"{arch}-{encoder}")
    version = config.get("segzoo_version")
    classes = config.get("class_names")
    front = [
        "---",
        "library_name: segzoo",
        "pipeline_tag: image-segmentation",
        "tags: [segzoo, semantic-segmentation, " + config["architecture"] + "]",
    ]
    if config.get("license"):
        front.append(f"license: {config['license'].lower()}")
    front.append("---")
    lines = [
        *front,
        "",
        f"# {name}",
        "",
        f"Semantic segmentation model: architecture `{arch}`"
        + (" (with its own encoder)" if own_encoder else f", encoder `{encoder}`")
        + f", {_count(int(config['num_classes']), 'class')}"
        + f", {_count(int(config.get('in_channels', 3)), 'input channel')}."
        + f" Saved with [segzoo](https://github.com/segzoo/segzoo){' ' + version if version else ''}.",
        "",
        "```python",
        "import segzoo",
        'model = segzoo.load("hf-hub:<this repo id>")',
        "masks = model.predict(images)  # (N, H, W) class indices",
        "```",
    ]
    if classes:
        lines += ["", "## Classes", "", ", ".join(f"{i}: {c}" for i, c in enumerate(classes))]
    pre = config.get("preprocessing")
    if pre:
        lines += ["", "## Preprocessing", "", f"mean {pre.get('mean')}, std {pre.get('std')} (inputs scaled to 0..1)"]
    return "\n".join(lines) + "\n"
