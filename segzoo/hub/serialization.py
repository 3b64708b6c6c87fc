"""Publishing a model to the Hub: ``segzoo.push_to_hub(model, repo_id)`` and ``segzoo publish DIR``.

Both upload the folder :mod:`segzoo.nn.pretrained` writes (``model.save_pretrained(dir)``); this module adds only
the network side, so the model layer never imports the Hub.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import HfApi, constants

from segzoo.hub.download import file_sha256
from segzoo.hub.loading import load_from_directory
from segzoo.nn.pretrained import WEIGHTS_NAME, default_model_card, save_pretrained

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["default_model_card", "publish_directory", "push_to_hub", "save_pretrained"]

log = logging.getLogger("segzoo")


def push_to_hub(
    model: nn.Module,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload model",
) -> str:
    """Publish what ``model.save_pretrained(dir)`` writes to the Hub model repository ``repo_id`` (created if
    missing); returns the commit URL. ``segzoo.load("hf-hub:" + repo_id)`` loads it back."""
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="segzoo-push-") as tmp:
        save_pretrained(model, tmp)
        info = _upload_folder(api, repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))


def publish_directory(directory: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> dict:
    """Upload a ``save_pretrained`` folder and return the catalog ``weights`` entry that pins what was uploaded."""
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
