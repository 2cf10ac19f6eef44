"""Building blocks of the Qwen-VL vision transformer as Monkey and TextMonkey use it.

Shared by `vision.py` (Monkey) and `textmonkey_vision.py` (TextMonkey). Module and parameter names follow the
upstream checkpoints (`transformer.visual.*` with that prefix removed), so the weights load as they are.

Batches of several *views* (e.g. four 448x448 windows and the global view) run through the tower together:
activations have shape (V * B, L, width), view-major (all images of view 0, then view 1, ...), and
`view_adapters[v]` names the LoRA adapter applied to view v (None = no LoRA). Upstream semantics:

- block: `x = x + attn(ln_1(x))`; `x = x + mlp(ln_2(x)) + mlp_lora_k(x)` (the LoRA term reads the
  post-attention x); every LoRA is `lora_b(lora_a(x)) * lora_scale`;
- attention: `in_proj(h) + in_proj_lora_k(h)` split per head into q|k|v (Qwen-VL's interleaved layout),
  softmax(q k^T / sqrt(head_dim)) v (computed with SDPA), `out_proj(ctx) + out_proj_lora_k(ctx)`;
- all ViT LayerNorms use eps 1e-6, GELU is exact (erf);
- resampler (`attn_pool`): kv = ln_kv(kv_proj(x)); q = ln_q(query) + pos_embed; key = kv + pos_embed
  bicubic-resized to the token grid; value = kv; multi-head attention with in_proj/out_proj.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

VIT_LAYER_NORM_EPS = 1e-6
WINDOW_PIXELS = 448  # upstream cuts the 896 image into 448x448 windows and resizes the global view to 448
ATTN_LORA_RANK = 16
MLP_LORA_RANK = 32

ViewAdapters = Sequence[int | None]


@dataclass(frozen=True)
class ViTConfig:
    """The `config.visual` fields that shape the Qwen-VL ViT trunk and its resampler."""

    width: int
    layers: int
    heads: int
    mlp_ratio: float
    output_dim: int
    patch_size: int = 14
    image_size: int = 896
    n_queries: int = 256  # queries of the ViT resampler (attn_pool)
    lora_repeat_num: int = 0

    @property
    def mlp_width(self) -> int:
        return int(self.width * self.mlp_ratio)

    @property
    def window_grid(self) -> int:
        """Patches per side of one 448x448 view."""
        return WINDOW_PIXELS // self.patch_size

    @property
    def windows_per_side(self) -> int:
        return (self.image_size - WINDOW_PIXELS) // WINDOW_PIXELS + 1

    @classmethod
    def from_visual(cls, visual: dict[str, Any], *, default_lora: int, n_queries: int | None) -> ViTConfig:
        """Read `config.visual`; `n_queries` None means: take it from the config (default 256)."""
        missing = [
            key for key in ("width", "layers", "heads", "mlp_ratio", "output_dim") if key not in visual
        ]
        if missing:
            raise ValueError(f"config.visual lacks {missing}: not a Monkey/TextMonkey vision config")
        image_size = visual.get("image_size", 896)
        if isinstance(image_size, list | tuple):
            if len(image_size) != 2 or image_size[0] != image_size[1]:
                raise ValueError(f"config.visual.image_size {image_size}: only square images are supported")
            image_size = image_size[0]
        config = cls(
            width=int(visual["width"]),
            layers=int(visual["layers"]),
            heads=int(visual["heads"]),
            mlp_ratio=float(visual["mlp_ratio"]),
            output_dim=int(visual["output_dim"]),
            patch_size=int(visual.get("patch_size", 14)),
            image_size=int(image_size),
            n_queries=int(visual.get("n_queries", 256)) if n_queries is None else n_queries,
            lora_repeat_num=int(visual.get("lora_repeat_num", default_lora)),
        )
        config.validate()
        return config

    def validate(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"config.visual: width {self.width} is not divisible by heads {self.heads}")
        if WINDOW_PIXELS % self.patch_size:
            raise ValueError(f"config.visual.patch_size {self.patch_size} must divide {WINDOW_PIXELS}")
        if self.image_size % WINDOW_PIXELS:
            raise ValueError(
                f"config.visual.image_size {self.image_size} must be a multiple of {WINDOW_PIXELS}"
            )
        if math.isqrt(self.n_queries) ** 2 != self.n_queries:
            raise ValueError(f"config.visual.n_queries {self.n_queries} must be a square")
        if self.output_dim % 128:
            raise ValueError(f"config.visual.output_dim {self.output_dim} must be a multiple of 128")


def resize_position_table(table: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """A (side*side, C) position table bicubic-resized (in float32) to a square grid of `n_tokens`."""
    src = math.isqrt(table.shape[0])
    dst = math.isqrt(n_tokens)
    if src == dst:
        return table
    grid = table.float().reshape(1, src, src, -1).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(dst, dst), mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1).flatten(0, 2).to(table.dtype)


def sincos_position_table(embed_dim: int, grid_size: int) -> torch.Tensor:
    """The 2D sin-cos table upstream initialises the resampler's pos_embed with: (grid_size**2, embed_dim).

    Row r*grid+c holds [sin/cos of c (first half), sin/cos of r (second half)] (upstream's meshgrid puts the
    column coordinate first). Checkpoints store their own
    (possibly trained) table, which replaces this one on load.
    """
    half = embed_dim // 2
    omega = 1.0 / 10000 ** (torch.arange(half // 2, dtype=torch.float32) / (half / 2))
    coords = torch.arange(grid_size, dtype=torch.float32)
    rows = coords.repeat_interleave(grid_size)
    cols = coords.repeat(grid_size)

    def encode(pos: torch.Tensor) -> torch.Tensor:
        angles = pos[:, None] * omega[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    return torch.cat([encode(cols), encode(rows)], dim=1)


class LoraAdapter(nn.Module):
    """`lora_b(lora_a(x)) * lora_scale` (upstream `Lora_Adapter`; its dropout is inactive at inference)."""

    def __init__(self, in_features: int, out_features: int, rank: int) -> None:
        super().__init__()
        self.lora_scale = nn.Parameter(torch.ones(1))
        self.lora_a = nn.Linear(in_features, rank, bias=False)
        self.lora_b = nn.Linear(rank, out_features, bias=False)
        nn.init.zeros_(self.lora_b.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lora_b(self.lora_a(x)) * self.lora_scale


def add_view_lora(
    out: torch.Tensor, inp: torch.Tensor, adapters: nn.ModuleList, view_adapters: ViewAdapters
) -> torch.Tensor:
    """Add adapter `view_adapters[v]` applied to view v of `inp` to view v of `out` (in place)."""
    if all(index is None for index in view_adapters):
        return out
    n_views = len(view_adapters)
    out_views = out.view(n_views, out.shape[0] // n_views, *out.shape[1:])
    in_views = inp.view(n_views, inp.shape[0] // n_views, *inp.shape[1:])
    for view, index in enumerate(view_adapters):
        if index is not None:
            out_views[view] += adapters[index](in_views[view])
    return out


class VisualAttention(nn.Module):
    """Self-attention with the fused Qwen-VL in_proj (q|k|v interleaved per head) and per-view LoRA."""

    def __init__(self, width: int, heads: int, lora_repeat_num: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = width // heads
        self.in_proj = nn.Linear(width, 3 * width)
        self.in_proj_lora = nn.ModuleList(
            LoraAdapter(width, 3 * width, ATTN_LORA_RANK) for _ in range(lora_repeat_num)
        )
        self.out_proj = nn.Linear(width, width)
        self.out_proj_lora = nn.ModuleList(
            LoraAdapter(width, width, ATTN_LORA_RANK) for _ in range(lora_repeat_num)
        )

    def forward(self, hidden: torch.Tensor, view_adapters: ViewAdapters) -> torch.Tensor:
        n, length, width = hidden.shape
        mixed = add_view_lora(self.in_proj(hidden), hidden, self.in_proj_lora, view_adapters)
        per_head = mixed.view(n, length, self.heads, 3 * self.head_dim)
        query, key, value = (part.transpose(1, 2) for part in per_head.split(self.head_dim, dim=-1))
        context = F.scaled_dot_product_attention(query, key, value)
        context = context.transpose(1, 2).reshape(n, length, width)
        return add_view_lora(self.out_proj(context), context, self.out_proj_lora, view_adapters)


class VisualAttentionBlock(nn.Module):
    """Pre-norm ViT block with per-view LoRA on in_proj, out_proj and the MLP."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        width = config.width
        self.ln_1 = nn.LayerNorm(width, eps=VIT_LAYER_NORM_EPS)
        self.ln_2 = nn.LayerNorm(width, eps=VIT_LAYER_NORM_EPS)
        self.attn = VisualAttention(width, config.heads, config.lora_repeat_num)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, config.mlp_width)),
                    ("gelu", nn.GELU()),
                    ("c_proj", nn.Linear(config.mlp_width, width)),
                ]
            )
        )
        self.mlp_lora = nn.ModuleList(
            LoraAdapter(width, width, MLP_LORA_RANK) for _ in range(config.lora_repeat_num)
        )

    def forward(self, x: torch.Tensor, view_adapters: ViewAdapters) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), view_adapters)
        out = x + self.mlp(self.ln_2(x))
        return add_view_lora(out, x, self.mlp_lora, view_adapters)


class ViTTransformer(nn.Module):
    """The stack of ViT blocks (`transformer.resblocks.*`)."""

    resblocks: nn.ModuleList

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(VisualAttentionBlock(config) for _ in range(config.layers))


class ResamplerAttention(nn.Module):
    """Multi-head attention with `nn.MultiheadAttention`'s parameter names (in_proj_weight/bias, out_proj)."""

    def __init__(self, embed_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """query (Q, E) shared by the batch; key/value (N, L, E) -> (N, Q, E)."""
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        n = key.shape[0]
        q = F.linear(query, w_q, b_q).expand(n, -1, -1).contiguous()  # some SDPA kernels reject stride 0
        k = F.linear(key, w_k, b_k)
        v = F.linear(value, w_v, b_v)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        context = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(context.transpose(1, 2).flatten(2))


class Resampler(nn.Module):
    """`attn_pool`: n_queries learnt queries cross-attend to the ViT tokens."""

    def __init__(self, n_queries: int, embed_dim: int, kv_dim: int) -> None:
        super().__init__()
        grid = math.isqrt(n_queries)
        self.pos_embed = nn.Parameter(sincos_position_table(embed_dim, grid), requires_grad=False)
        self.query = nn.Parameter(torch.zeros(n_queries, embed_dim))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.kv_proj: nn.Module = (
            nn.Linear(kv_dim, embed_dim, bias=False) if kv_dim != embed_dim else nn.Identity()
        )
        self.attn = ResamplerAttention(embed_dim, embed_dim // 128)
        self.ln_q = nn.LayerNorm(embed_dim, eps=VIT_LAYER_NORM_EPS)
        self.ln_kv = nn.LayerNorm(embed_dim, eps=VIT_LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, kv_dim) -> (N, n_queries, embed_dim)."""
        key_pos = resize_position_table(self.pos_embed, x.shape[1])
        kv = self.ln_kv(self.kv_proj(x))
        query = self.ln_q(self.query) + self.pos_embed
        return self.attn(query, kv + key_pos, kv)


class QwenViT(nn.Module):
    """Patch embedding, ViT blocks and resampler shared by Monkey and TextMonkey (subclasses add forward)."""

    transformer: ViTTransformer

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        patch = config.patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.positional_embedding = nn.Parameter(width**-0.5 * torch.randn(256, width))
        self.ln_pre = nn.LayerNorm(width, eps=VIT_LAYER_NORM_EPS)
        self.transformer = self._build_transformer(config)
        self.attn_pool = Resampler(config.n_queries, config.output_dim, width)
        self.ln_post = nn.LayerNorm(config.output_dim, eps=VIT_LAYER_NORM_EPS)
        self.proj = nn.Parameter(config.output_dim**-0.5 * torch.randn(config.output_dim, config.output_dim))

    def _build_transformer(self, config: ViTConfig) -> ViTTransformer:
        return ViTTransformer(config)

    @property
    def n_image_tokens(self) -> int:
        """Tokens per image in the output."""
        raise NotImplementedError

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.conv1.weight.dtype

    @property
    def compute_device(self) -> torch.device:
        return self.conv1.weight.device

    def global_view(self, pixels: torch.Tensor) -> torch.Tensor:
        """Bicubic 448x448 of the normalised float32 896 tensor (align_corners=False, no antialias)."""
        return F.interpolate(
            pixels.float(), size=(WINDOW_PIXELS, WINDOW_PIXELS), mode="bicubic", align_corners=False
        )

    def window_views(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """The 448x448 windows of the image, row-major."""
        side = self.config.windows_per_side
        return [
            pixels[
                ...,
                row * WINDOW_PIXELS : (row + 1) * WINDOW_PIXELS,
                col * WINDOW_PIXELS : (col + 1) * WINDOW_PIXELS,
            ]
            for row in range(side)
            for col in range(side)
        ]

    def tokens_from_patch_grid(self, grid: torch.Tensor) -> torch.Tensor:
        """(N, width, g, g) conv features -> (N, g*g, width) tokens with position embedding and ln_pre."""
        tokens = grid.flatten(2).transpose(1, 2)
        tokens = tokens + resize_position_table(self.positional_embedding, tokens.shape[1])
        return self.ln_pre(tokens)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, L, width) -> (N, n_queries, output_dim): resampler, ln_post, proj."""
        return self.ln_post(self.attn_pool(tokens)) @ self.proj

    @staticmethod
    def image_major(pooled: torch.Tensor, n_views: int) -> torch.Tensor:
        """(V*B, Q, D) view-major -> (B, V*Q, D): each image's views concatenated in view order."""
        _, queries, dim = pooled.shape
        return pooled.view(n_views, -1, queries, dim).transpose(0, 1).reshape(-1, n_views * queries, dim)
