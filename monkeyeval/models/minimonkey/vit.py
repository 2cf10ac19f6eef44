"""InternViT (the `intern_vit_6b` model type of InternVL) as configured by a checkpoint's `vision_config`.

Parameter names follow the upstream checkpoint (`embeddings.*`, `encoder.layers.<i>.*`), so the weights load
as they are. Structure: patch embedding + class token + position embedding (bicubic-interpolated to the
patch grid, the identity at 448), then pre-norm blocks `x += attn(norm1 x) * ls1; x += mlp(norm2 x) * ls2`.
There is no final norm: the output is the last block's hidden state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from monkeyeval.models.decoding.layers import RMSNorm


@dataclass(frozen=True)
class InternVisionConfig:
    """The fields of upstream `InternVisionConfig` that change the forward pass."""

    hidden_size: int
    num_attention_heads: int
    intermediate_size: int
    num_hidden_layers: int
    image_size: int = 448
    patch_size: int = 14
    num_channels: int = 3
    qkv_bias: bool = True
    qk_normalization: bool = False
    norm_type: str = "layer_norm"
    layer_norm_eps: float = 1e-6
    hidden_act: str = "gelu"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> InternVisionConfig:
        """Build from the `vision_config` block of config.json (unknown keys are ignored)."""
        config = cls(**{name: raw[name] for name in cls.__dataclass_fields__ if name in raw})
        if config.norm_type not in ("layer_norm", "rms_norm"):
            raise ValueError(f"vision_config.norm_type {config.norm_type!r}: expected layer_norm or rms_norm")
        if config.hidden_act != "gelu":
            raise ValueError(
                f"vision_config.hidden_act {config.hidden_act!r}: only 'gelu' (erf) is supported"
            )
        if config.hidden_size % config.num_attention_heads:
            raise ValueError("vision_config.hidden_size must be divisible by num_attention_heads")
        return config


def make_norm(norm_type: str, size: int, eps: float) -> nn.Module:
    """LayerNorm or RMSNorm, as `norm_type` says."""
    return nn.LayerNorm(size, eps=eps) if norm_type == "layer_norm" else RMSNorm(size, eps)


class VisionEmbeddings(nn.Module):
    """Patch embedding, class token and (interpolated) position embedding."""

    def __init__(self, config: InternVisionConfig) -> None:
        super().__init__()
        self.grid = config.image_size // config.patch_size
        dim = config.hidden_size
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, dim))
        self.patch_embedding = nn.Conv2d(
            config.num_channels, dim, kernel_size=config.patch_size, stride=config.patch_size
        )
        self.position_embedding = nn.Parameter(torch.zeros(1, self.grid * self.grid + 1, dim))

    def _patch_positions(self, height: int, width: int) -> torch.Tensor:
        table = self.position_embedding[:, 1:, :]
        dtype = table.dtype
        table = table.float().reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        table = F.interpolate(table, size=(height, width), mode="bicubic", align_corners=False)
        return table.reshape(1, -1, height * width).permute(0, 2, 1).to(dtype)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        dtype = self.patch_embedding.weight.dtype
        patches = self.patch_embedding(pixel_values.to(dtype))
        batch, _, height, width = patches.shape
        patches = patches.flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(batch, 1, -1).to(dtype)
        positions = torch.cat(
            [self.position_embedding[:, :1, :], self._patch_positions(height, width)], dim=1
        )
        return torch.cat([cls, patches], dim=1) + positions.to(dtype)


class VisionAttention(nn.Module):
    """Bidirectional multi-head attention; qkv laid out [3, heads, head_dim] along the output axis."""

    def __init__(self, config: InternVisionConfig) -> None:
        super().__init__()
        dim = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = dim // self.num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=config.qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.q_norm: nn.Module | None = None
        self.k_norm: nn.Module | None = None
        if config.qk_normalization:
            self.q_norm = RMSNorm(dim, config.layer_norm_eps)
            self.k_norm = RMSNorm(dim, config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, length, dim = hidden.shape
        qkv = self.qkv(hidden).reshape(batch, length, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.unbind(2)  # each (B, L, H, D)
        if self.q_norm is not None and self.k_norm is not None:
            query = self.q_norm(query.flatten(-2)).view_as(query)
            key = self.k_norm(key.flatten(-2)).view_as(key)
        out = F.scaled_dot_product_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)
        )
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class VisionMLP(nn.Module):
    """fc1 -> exact GELU -> fc2."""

    def __init__(self, config: InternVisionConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(hidden)))


class VisionLayer(nn.Module):
    """Pre-norm block with layer scale on both residual branches."""

    def __init__(self, config: InternVisionConfig) -> None:
        super().__init__()
        dim = config.hidden_size
        self.attn = VisionAttention(config)
        self.mlp = VisionMLP(config)
        self.norm1 = make_norm(config.norm_type, dim, config.layer_norm_eps)
        self.norm2 = make_norm(config.norm_type, dim, config.layer_norm_eps)
        self.ls1 = nn.Parameter(torch.ones(dim))
        self.ls2 = nn.Parameter(torch.ones(dim))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden + self.attn(self.norm1(hidden)) * self.ls1
        return hidden + self.mlp(self.norm2(hidden)) * self.ls2


class VisionEncoder(nn.Module):
    """The stack of vision blocks."""

    def __init__(self, config: InternVisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(VisionLayer(config) for _ in range(config.num_hidden_layers))


class InternVisionModel(nn.Module):
    """InternViT: `(N, 3, H, W)` pixels -> `(N, 1 + patches, hidden)` tokens (class token first)."""

    def __init__(self, config: InternVisionConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = VisionEmbeddings(config)
        self.encoder = VisionEncoder(config)

    def forward(self, pixel_values: torch.Tensor, select_layer: int = -1) -> torch.Tensor:
        """Hidden states of layer `select_layer` (-1 = last; 0 = the embeddings, as in upstream's tuple)."""
        states = self.hidden_states(pixel_values, stop_after=select_layer)
        return states[select_layer]

    def hidden_states(self, pixel_values: torch.Tensor, stop_after: int = -1) -> list[torch.Tensor]:
        """[embeddings, layer 0 output, layer 1 output, ...], computed up to the layer `stop_after` needs."""
        depth = len(self.encoder.layers)
        needed = depth if stop_after < 0 else stop_after
        if not -depth - 1 <= stop_after <= depth:
            raise ValueError(f"select_layer {stop_after} out of range for {depth} vision layers")
        hidden = self.embeddings(pixel_values)
        states = [hidden]
        for layer in list(self.encoder.layers)[:needed]:
            hidden = layer(hidden)
            states.append(hidden)
        return states
