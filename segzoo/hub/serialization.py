"""save_pretrained / push_to_hub: config.json + model.safetensors + a README.md model card."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from segzoo.errors import SegzooError
from segzoo.hub.loading import CONFIG_NAME, WEIGHTS_NAME

if TYPE_CHECKING:  # pragma: no cover
    from segzoo.nn.model import SegmentationModel

log = logging.getLogger("segzoo")


def save_pretrained(model: SegmentationModel, directory: str | Path, *, model_card: str | None = None) -> Path:
    from safetensors.torch import save_file

    from segzoo import __version__

    if not model.config.get("architecture"):
        raise SegzooError("this model has no config (build it with segzoo.create or segzoo.load to save it)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"segzoo_version": __version__, **model.config}
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # one metadata key: safetensors writes several in random order, which would change the sha256 of equal weights
    save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
    (directory / "README.md").write_text(model_card if model_card is not None else default_model_card(config))
    return directory


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"


def default_model_card(config: dict) -> str:
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


def push_to_hub(
    model: SegmentationModel, repo_id: str, *, private: bool = False, token: str | None = None, commit_message: str
) -> str:
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="segzoo-push-") as tmp:
        save_pretrained(model, tmp)
        info = _upload_folder(api, repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))


def publish_directory(directory: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> dict:
    """Upload a ``save_pretrained`` folder and return the catalog ``weights`` entry that pins what was uploaded."""
    from huggingface_hub import HfApi

    from segzoo.hub.download import file_sha256
    from segzoo.hub.loading import load_from_directory

    directory = Path(directory)
    load_from_directory(directory)  # refuse to publish what segzoo could not load back
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = _upload_folder(api, repo_id=repo_id, folder_path=str(directory), commit_message=f"Upload {directory.name}")
    return {
        "repo_id": repo_id,
        "revision": info.oid,
        "commit_url": str(info.commit_url),
        "weights": {
            "format": "segzoo",
            "hub": {"repo_id": repo_id, "filename": WEIGHTS_NAME, "revision": info.oid},
            "sha256": file_sha256(directory / WEIGHTS_NAME),
        },
    }


def _upload_folder(api, **kwargs):
    """``upload_folder``, falling back to plain Git LFS when the endpoint offers no Xet storage.

    huggingface_hub uploads through Xet whenever ``hf_xet`` is installed and fails outright on an endpoint without
    it (a mirror, an older Hub, segzoo's test server), asking for a Xet write token that is not there. Nothing has
    been uploaded at that point, so segzoo retries once over LFS, as ``HF_HUB_DISABLE_XET=1`` would.
    """
    from huggingface_hub import constants

    try:
        return api.upload_folder(**kwargs)
    except Exception as err:  # noqa: BLE001 - hf_xet raises a builtin ConnectionError
        if constants.HF_HUB_DISABLE_XET or "xet-write-token" not in str(err):
            raise
        log.warning(
            "%s offers no Xet storage; uploading over Git LFS instead (set HF_HUB_DISABLE_XET=1 to skip trying Xet)",
            constants.ENDPOINT,
        )
    previous = constants.HF_HUB_DISABLE_XET
    constants.HF_HUB_DISABLE_XET = True
    try:
        return api.upload_folder(**kwargs)
    finally:
        constants.HF_HUB_DISABLE_XET = previous
