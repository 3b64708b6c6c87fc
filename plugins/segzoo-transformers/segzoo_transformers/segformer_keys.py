"""transformers SegFormer key names -> this plugin's MiT names.

Shared by :mod:`.mit` (ImageNet weights of ``nvidia/mit-b*``) and :mod:`.convert` (SegFormer segmentation
checkpoints); it imports nothing from the plugin, so both depend on it and neither on the other for key names.
"""

from __future__ import annotations

import re

import torch

# transformers 4 (the names stored in the Hub files) -> transformers 5 (the names of this plugin's MiT encoder)
SEGFORMER_V4_TO_V5 = [
    (re.compile(r"^segformer\.encoder\.patch_embeddings\.(\d+)\."), r"segformer.stages.\1.patch_embeddings."),
    (re.compile(r"^segformer\.encoder\.block\.(\d+)\.(\d+)\."), r"segformer.stages.\1.blocks.\2."),
    (re.compile(r"^segformer\.encoder\.layer_norm\.(\d+)\."), r"segformer.stages.\1.layer_norm."),
    (re.compile(r"\.attention\.self\.query\."), ".attention.q_proj."),
    (re.compile(r"\.attention\.self\.key\."), ".attention.k_proj."),
    (re.compile(r"\.attention\.self\.value\."), ".attention.v_proj."),
    (re.compile(r"\.attention\.self\.sr\."), ".attention.sequence_reduction.sequence_reduction."),
    (re.compile(r"\.attention\.self\.layer_norm\."), ".attention.sequence_reduction.layer_norm."),
    (re.compile(r"\.attention\.output\.dense\."), ".attention.o_proj."),
    (re.compile(r"\.mlp\.dense1\."), ".mlp.fc1."),
    (re.compile(r"\.mlp\.dense2\."), ".mlp.fc2."),
    (re.compile(r"\.layer_norm_1\."), ".layernorm_before."),
    (re.compile(r"\.layer_norm_2\."), ".layernorm_after."),
    (re.compile(r"^decode_head\.linear_c\."), "decode_head.linear_projections."),
]


def segformer_v5_name(key: str) -> str:
    """A SegFormer key in transformers 5's naming, whichever naming it came in (5's names pass unchanged)."""
    for pattern, repl in SEGFORMER_V4_TO_V5:
        key = pattern.sub(repl, key)
    return key


def mit_encoder_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The MiT encoder's own state dict (keys ``stages.*``) from a transformers SegFormer checkpoint (segmentation or
    ImageNet classification); every other key is ignored."""
    out = {}
    for key, value in state_dict.items():
        key = segformer_v5_name(key)
        if key.startswith("segformer.stages."):
            out[key[len("segformer.") :]] = value
    return out
