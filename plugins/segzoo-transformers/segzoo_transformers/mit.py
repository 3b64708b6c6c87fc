"""Mix Transformer (MiT-B0..B5), the SegFormer encoder (Xie et al. 2021), numerically equal to transformers'
``SegformerModel``.

Module and parameter names follow transformers >= 5 (``stages.{i}.patch_embeddings``, ``blocks.{j}.attention.q_proj``,
``mlp.fc1`` ...), so a transformers state dict maps onto this encoder by a prefix change (see
:mod:`.segformer_keys`).

Every LayerNorm uses PyTorch's default eps (1e-5), as transformers does. The original NVlabs code uses 1e-6 in the
block and stage norms; the difference is far below the checkpoints' precision, but it is why this encoder matches
transformers bit-for-bit and the NVlabs/smp implementations only to ~1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import Encoder

from segzoo_transformers.segformer_keys import mit_encoder_state_dict


@dataclass(frozen=True)
class MiTConfig:
    """Hyper-parameters of one MiT variant, as in transformers' ``SegformerConfig`` for ``nvidia/mit-b*``."""

    hidden_sizes: tuple[int, ...]
    depths: tuple[int, ...]
    num_attention_heads: tuple[int, ...] = (1, 2, 5, 8)
    sr_ratios: tuple[int, ...] = (8, 4, 2, 1)
    patch_sizes: tuple[int, ...] = (7, 3, 3, 3)
    strides: tuple[int, ...] = (4, 2, 2, 2)
    mlp_ratios: tuple[int, ...] = (4, 4, 4, 4)
    drop_path_rate: float = 0.1
    #: SegFormer's decode-head width for this variant (``decoder_hidden_size``)
    decoder_hidden_size: int = 768
    #: Hub repository with the ImageNet-1k weights (``SegformerForImageClassification``)
    imagenet_repo: str = ""


MIT_CONFIGS: dict[str, MiTConfig] = {
    "mit_b0": MiTConfig((32, 64, 160, 256), (2, 2, 2, 2), decoder_hidden_size=256, imagenet_repo="nvidia/mit-b0"),
    "mit_b1": MiTConfig((64, 128, 320, 512), (2, 2, 2, 2), decoder_hidden_size=256, imagenet_repo="nvidia/mit-b1"),
    "mit_b2": MiTConfig((64, 128, 320, 512), (3, 4, 6, 3), imagenet_repo="nvidia/mit-b2"),
    "mit_b3": MiTConfig((64, 128, 320, 512), (3, 4, 18, 3), imagenet_repo="nvidia/mit-b3"),
    "mit_b4": MiTConfig((64, 128, 320, 512), (3, 8, 27, 3), imagenet_repo="nvidia/mit-b4"),
    "mit_b5": MiTConfig((64, 128, 320, 512), (3, 6, 40, 3), imagenet_repo="nvidia/mit-b5"),
}


class OverlapPatchEmbeddings(nn.Module):
    """Strided conv with overlapping windows (kernel 7/stride 4, then 3/2), then LayerNorm over channels."""

    def __init__(self, patch_size: int, stride: int, in_channels: int, hidden_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, hidden_size, patch_size, stride=stride, padding=patch_size // 2)
        self.layer_norm = nn.LayerNorm(hidden_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        height, width = x.shape[-2:]
        return self.layer_norm(x.flatten(2).transpose(1, 2)), height, width


class SequenceReduction(nn.Module):
    """Keys/values from a ``ratio``-strided conv of the token map (PVT's spatial-reduction attention)."""

    def __init__(self, hidden_size: int, ratio: int) -> None:
        super().__init__()
        self.sequence_reduction = nn.Conv2d(hidden_size, hidden_size, ratio, stride=ratio)
        self.layer_norm = nn.LayerNorm(hidden_size)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, _, c = x.shape
        x = x.transpose(1, 2).reshape(b, c, height, width)
        x = self.sequence_reduction(x).reshape(b, c, -1).transpose(1, 2)
        return self.layer_norm(x)


class EfficientSelfAttention(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ConfigurationError(f"hidden size {hidden_size} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.k_proj = nn.Linear(hidden_size, hidden_size)
        self.v_proj = nn.Linear(hidden_size, hidden_size)
        self.o_proj = nn.Linear(hidden_size, hidden_size)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sequence_reduction = SequenceReduction(hidden_size, sr_ratio)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, n, _ = x.shape
        q = self.q_proj(x).view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        kv = self.sequence_reduction(x, height, width) if self.sr_ratio > 1 else x
        m = kv.shape[1]
        k = self.k_proj(kv).view(b, m, self.num_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(kv).view(b, m, self.num_heads, self.head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, scale=self.head_dim**-0.5)
        return self.o_proj(out.transpose(1, 2).reshape(b, n, -1))


class DepthWiseConv(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, _, c = x.shape
        x = x.transpose(1, 2).reshape(b, c, height, width)
        return self.dwconv(x).flatten(2).transpose(1, 2)


class MixFFN(nn.Module):
    """fc1 -> 3x3 depthwise conv (positional information) -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DepthWiseConv(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        return self.fc2(self.act(self.dwconv(self.fc1(x), height, width)))


class DropPath(nn.Module):
    """Stochastic depth per sample (identity in eval mode)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MiTBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, sr_ratio: int, mlp_ratio: int, drop_path: float) -> None:
        super().__init__()
        self.layernorm_before = nn.LayerNorm(dim)
        self.attention = EfficientSelfAttention(dim, num_heads, sr_ratio)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.layernorm_after = nn.LayerNorm(dim)
        self.mlp = MixFFN(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        x = x + self.drop_path(self.attention(self.layernorm_before(x), height, width))
        return x + self.drop_path(self.mlp(self.layernorm_after(x), height, width))


class MiTStage(nn.Module):
    def __init__(self, cfg: MiTConfig, index: int, in_channels: int, drop_paths: list[float]) -> None:
        super().__init__()
        dim = cfg.hidden_sizes[index]
        self.patch_embeddings = OverlapPatchEmbeddings(cfg.patch_sizes[index], cfg.strides[index], in_channels, dim)
        self.blocks = nn.ModuleList(
            MiTBlock(dim, cfg.num_attention_heads[index], cfg.sr_ratios[index], cfg.mlp_ratios[index], p)
            for p in drop_paths
        )
        self.layer_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, height, width = self.patch_embeddings(x)
        for block in self.blocks:
            x = block(x, height, width)
        x = self.layer_norm(x)
        return x.reshape(x.shape[0], height, width, -1).permute(0, 3, 1, 2).contiguous()


class MixTransformerEncoder(Encoder):
    """MiT encoder: four stages at strides 4, 8, 16, 32 (``encoder.stages.{i}.*`` in the model's state dict)."""

    def __init__(self, cfg: MiTConfig, *, in_channels: int = 3, drop_path_rate: float | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        rate = cfg.drop_path_rate if drop_path_rate is None else drop_path_rate
        total = sum(cfg.depths)
        rates = [rate * i / max(total - 1, 1) for i in range(total)]
        stages, start, prev = [], 0, in_channels
        for i, depth in enumerate(cfg.depths):
            stages.append(MiTStage(cfg, i, prev, rates[start : start + depth]))
            start += depth
            prev = cfg.hidden_sizes[i]
        self.stages = nn.ModuleList(stages)
        self.out_channels = list(cfg.hidden_sizes)
        reductions, r = [], 1
        for s in cfg.strides:
            r *= s
            reductions.append(r)
        self.reductions = reductions

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def build_mit(
    name: str,
    *,
    in_channels: int = 3,
    output_stride: int = 32,
    pretrained: bool = False,
    drop_path_rate: float | None = None,
) -> MixTransformerEncoder:
    if output_stride != 32:
        raise ConfigurationError(
            f"encoder {name!r} has no dilated mode (output_stride={output_stride}); MiT works at output_stride=32 only"
        )
    encoder = MixTransformerEncoder(MIT_CONFIGS[name], in_channels=in_channels, drop_path_rate=drop_path_rate)
    if pretrained:
        load_imagenet_weights(encoder, name)
    return encoder


# one builder per registered name, for the plugin's lazy factories ("segzoo_transformers.mit:build_mit_b0")
build_mit_b0 = partial(build_mit, "mit_b0")
build_mit_b1 = partial(build_mit, "mit_b1")
build_mit_b2 = partial(build_mit, "mit_b2")
build_mit_b3 = partial(build_mit, "mit_b3")
build_mit_b4 = partial(build_mit, "mit_b4")
build_mit_b5 = partial(build_mit, "mit_b5")


def load_imagenet_weights(encoder: MixTransformerEncoder, name: str) -> None:
    """ImageNet-1k weights of ``nvidia/mit-b*`` (transformers ``SegformerForImageClassification``, classifier dropped).

    The file is ``pytorch_model.bin`` on the Hub (read with ``weights_only=True``); with ``in_channels != 3`` the
    first convolution is adapted the way timm does (``adapt_input_conv``).
    """
    repo = MIT_CONFIGS[name].imagenet_repo
    try:
        from segzoo.hub.download import fetch_hub_file

        path = fetch_hub_file(repo, "pytorch_model.bin", "main", sha256=None, what=f"ImageNet weights of {name}")
    except ImportError:  # pragma: no cover - older segzoo cores
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(repo, "pytorch_model.bin")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    state = mit_encoder_state_dict(raw)
    key = "stages.0.patch_embeddings.proj.weight"
    in_channels = encoder.stages[0].patch_embeddings.proj.in_channels
    if in_channels != state[key].shape[1]:
        from timm.models import adapt_input_conv

        state[key] = adapt_input_conv(in_channels, state[key])
    encoder.load_state_dict(state, strict=True)
