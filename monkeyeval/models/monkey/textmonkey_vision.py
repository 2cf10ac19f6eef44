"""The TextMonkey vision tower: shifted-window cross-window attention and the token resampler.

Upstream: `monkey_model/text_monkey/{visual_text,window,resampler,merge}.py` at commit 498e1d9.

- conv1 runs on the whole 896x896 image (64x64 patches), cut into 2x2 windows of 32x32 patches, row-major;
  each window gets the (bicubic-resized) position embedding and ln_pre.
- Before block i for i in `window_pos`, the windows are stitched into the full map and the j-th
  `CrossWindowAttention` (j counts the matches in block order; see `textmonkey_windows.py`) runs over it.
- Per-window LoRA only when `lora_repeat_num > 0` (1: adapter 0 on every window; >= 4: adapter k on window
  k). The global view never gets LoRA or window attention.
- Each window is pooled by the resampler (256 queries) -> 1024 local tokens; the token resampler keeps the
  `r` least redundant ones (see `select_least_redundant`) and refines them with Perceiver attention over all
  local tokens plus a feed-forward residual; then the 256 global tokens follow.

Sizes upstream hard-codes for the real model come from `config.visual["hardcoded_overrides"]` when present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from monkeyeval.models.monkey.textmonkey_windows import SWIN_LAYER_NORM_EPS, CrossWindowAttention, SwinMlp
from monkeyeval.models.monkey.vision_vit import QwenViT, ViTConfig, ViTTransformer


@dataclass(frozen=True)
class TokenResamplerConfig:
    """Sizes of upstream's `PerceiverResampler` (its constructor defaults are the real model's)."""

    in_dim: int = 1024
    out_dim: int = 4096
    depth: int = 1
    dim_head: int = 128
    heads: int = 8


@dataclass(frozen=True)
class TextMonkeyVisualConfig:
    """ViT trunk config plus TextMonkey's window attention and token resampler settings."""

    vit: ViTConfig
    add_window: bool = False
    use_global: bool = False
    resampler: bool = False
    r: int = 512
    window_pos: tuple[int, ...] = (2, 6, 24, 46)
    window_dim: tuple[int, ...] = (128, 256, 512, 1024)
    window_head: tuple[int, ...] = (4, 8, 16, 32)
    window_attn_dim: int = 1664
    window_size: int = 12
    token_resampler: TokenResamplerConfig = field(default_factory=TokenResamplerConfig)

    @classmethod
    def from_visual(cls, visual: dict[str, Any]) -> TextMonkeyVisualConfig:
        """Read `config.visual`: flags default as upstream's constructor, sizes from `hardcoded_overrides`."""
        # the ViT resampler of TextMonkey always has 256 queries; config n_queries is the whole image span
        vit = ViTConfig.from_visual(visual, default_lora=0, n_queries=256)
        overrides = dict(visual.get("hardcoded_overrides") or {})
        known = {
            "window_pos",
            "window_dim",
            "window_head",
            "window_attn_dim",
            "window_size",
            "token_resampler",
        }
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"config.visual.hardcoded_overrides: unknown keys {sorted(unknown)}")
        defaults = cls(vit=vit)
        resampler_raw = overrides.get("token_resampler") or {}
        unknown_resampler = set(resampler_raw) - set(TokenResamplerConfig.__dataclass_fields__)
        if unknown_resampler:
            raise ValueError(
                f"config.visual.hardcoded_overrides.token_resampler: unknown keys {sorted(unknown_resampler)}"
            )
        config = cls(
            vit=vit,
            add_window=bool(visual.get("add_window", False)),
            use_global=bool(visual.get("use_global", False)),
            resampler=bool(visual.get("resampler", False)),
            r=int(visual.get("r", 512)),
            window_pos=tuple(int(i) for i in overrides.get("window_pos", defaults.window_pos)),
            window_dim=tuple(int(i) for i in overrides.get("window_dim", defaults.window_dim)),
            window_head=tuple(int(i) for i in overrides.get("window_head", defaults.window_head)),
            window_attn_dim=int(overrides.get("window_attn_dim", defaults.window_attn_dim)),
            window_size=int(overrides.get("window_size", defaults.window_size)),
            token_resampler=TokenResamplerConfig(**{k: int(v) for k, v in resampler_raw.items()}),
        )
        config.validate()
        return config

    def validate(self) -> None:
        vit = self.vit
        if not len(self.window_pos) == len(self.window_dim) == len(self.window_head):
            raise ValueError(
                "config.visual: window_pos, window_dim and window_head must have the same length"
            )
        if self.add_window and self.window_attn_dim != vit.width:
            raise ValueError(
                f"config.visual: window_attn_dim {self.window_attn_dim} must equal the ViT width {vit.width} "
                "(set hardcoded_overrides.window_attn_dim)"
            )
        if vit.lora_repeat_num in (2, 3):
            raise ValueError(
                f"config.visual.lora_repeat_num {vit.lora_repeat_num}: "
                "TextMonkey supports 0, 1 or >= 4 adapters"
            )
        n_local = vit.windows_per_side**2 * vit.n_queries
        if self.resampler and not 0 < self.r <= n_local:
            raise ValueError(f"config.visual.r {self.r} must be in 1..{n_local}")
        if self.resampler and self.token_resampler.out_dim != vit.output_dim:
            raise ValueError(
                f"hardcoded_overrides.token_resampler.out_dim {self.token_resampler.out_dim} "
                f"must equal config.visual.output_dim {vit.output_dim}"
            )

    @property
    def n_image_tokens(self) -> int:
        local = self.r if self.resampler else self.vit.windows_per_side**2 * self.vit.n_queries
        return local + (self.vit.n_queries if self.use_global else 0)


class WindowedViTTransformer(ViTTransformer):
    """ViT blocks plus the cross-window attention modules (`transformer.window_attention.*`)."""

    def __init__(self, config: TextMonkeyVisualConfig) -> None:
        super().__init__(config.vit)
        grid = config.vit.image_size // config.vit.patch_size
        self.window_attention = nn.ModuleList(
            CrossWindowAttention(grid, config.window_attn_dim, hidden, heads, config.window_size)
            for hidden, heads in zip(config.window_dim, config.window_head, strict=True)
        )


def select_least_redundant(tokens: torch.Tensor, keep: int) -> torch.Tensor:
    """Indices (B, keep), ascending, of the `keep` tokens least similar to any later token.

    Upstream's `self_soft_matching`, with its exact ops: cosine similarity (x / ||x||, in the input dtype);
    2 subtracted on and below the diagonal (a float32 tril), so each token is compared with the tokens after
    it; max per token; `argsort(descending=True)` (not stable, as upstream); the last `keep` of that order;
    sorted back into original order.
    """
    with torch.no_grad():
        n = tokens.shape[1]
        unit = tokens / tokens.norm(dim=-1, keepdim=True)
        scores = unit @ unit.transpose(-1, -2)
        lower = torch.tril(torch.ones(n, n)) * 2
        scores = scores - lower.expand(tokens.shape[0], -1, -1).to(tokens.device)
        best, _ = scores.max(dim=-1)
        order = best.argsort(dim=-1, descending=True)
        kept, _ = torch.sort(order[:, n - keep :], dim=1)
    return kept


class PerceiverAttention(nn.Module):
    """Latents attend to cat(media, latents) (flamingo-style; LayerNorm eps 1e-5, no bias)."""

    def __init__(self, dim: int, dim_head: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        inner = dim_head * heads
        self.norm_media = nn.LayerNorm(dim, eps=SWIN_LAYER_NORM_EPS)
        self.norm_latents = nn.LayerNorm(dim, eps=SWIN_LAYER_NORM_EPS)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        media = self.norm_media(media)
        latents = self.norm_latents(latents)
        query = self.to_q(latents)
        key, value = self.to_kv(torch.cat([media, latents], dim=1)).chunk(2, dim=-1)
        query, key, value = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (query, key, value))
        context = F.scaled_dot_product_attention(query, key, value)
        return self.to_out(context.transpose(1, 2).flatten(2))


class FeedForward(SwinMlp):
    """LayerNorm -> fc1 -> GELU -> fc2 -> * scale (no bias, no residual inside)."""

    def __init__(self, in_features: int, hidden: int, out_features: int) -> None:
        super().__init__(in_features, hidden, out_features)
        self.norm = nn.LayerNorm(in_features, eps=SWIN_LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.norm(x))


class TokenResampler(nn.Module):
    """`downresampler`: keep the r least redundant local tokens, refine them with Perceiver attention."""

    def __init__(self, config: TokenResamplerConfig) -> None:
        super().__init__()
        self.downsample = nn.Linear(config.out_dim, config.in_dim, bias=False)
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    PerceiverAttention(config.in_dim, config.dim_head, config.heads),
                    FeedForward(config.in_dim, config.in_dim, config.out_dim),
                ]
            )
            for _ in range(config.depth)
        )

    def forward(self, tokens: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
        """tokens (B, L, out_dim), kept (B, r) indices -> (B, r, out_dim)."""
        latents = tokens.gather(1, kept[..., None].expand(-1, -1, tokens.shape[-1]))
        media = self.downsample(tokens)
        down_latents = self.downsample(latents)
        for layer in self.layers:
            attention, feed_forward = cast(nn.ModuleList, layer)
            down_latents = attention(media, down_latents)
            latents = feed_forward(down_latents) + latents
        return latents


@dataclass(frozen=True)
class TextMonkeyVisualOutput:
    """The image embeddings and the (B, r) local-token indices the token resampler kept (None without it)."""

    embeds: torch.Tensor
    kept_indices: torch.Tensor | None


class TextMonkeyVisual(QwenViT):
    """TextMonkey vision tower: pixel_values (B, 3, 896, 896) -> (B, n_image_tokens, output_dim).

    `encode` also returns which local tokens the token resampler kept; `forward` returns the embeddings.
    """

    def __init__(self, config: TextMonkeyVisualConfig) -> None:
        self.textmonkey_config = config
        super().__init__(config.vit)
        if config.resampler:
            self.downresampler = TokenResampler(config.token_resampler)
        n_windows = config.vit.windows_per_side**2
        lora = config.vit.lora_repeat_num
        window_adapters: list[int | None] = (
            [None] * n_windows if lora == 0 else [0] * n_windows if lora == 1 else list(range(n_windows))
        )
        self.view_adapters: tuple[int | None, ...] = (
            *window_adapters,
            *([None] if config.use_global else []),
        )

    @classmethod
    def from_visual_config(cls, visual: dict[str, Any]) -> TextMonkeyVisual:
        """The tower for config.json's `visual` section, randomly initialised (fill it with load_strict)."""
        return cls(TextMonkeyVisualConfig.from_visual(visual))

    def _build_transformer(self, config: ViTConfig) -> ViTTransformer:
        if self.textmonkey_config.add_window:
            return WindowedViTTransformer(self.textmonkey_config)
        return ViTTransformer(config)

    @property
    def n_image_tokens(self) -> int:
        return self.textmonkey_config.n_image_tokens

    def _stitch(self, windows: torch.Tensor) -> torch.Tensor:
        """(nW * B, g*g, C) view-major windows -> (B, (side*g)**2, C) row-major full map."""
        side, g = self.config.windows_per_side, self.config.window_grid
        c = windows.shape[-1]
        x = windows.view(side, side, -1, g, g, c).permute(2, 0, 3, 1, 4, 5)
        return x.reshape(-1, side * g * side * g, c)

    def _split(self, full: torch.Tensor) -> torch.Tensor:
        """Inverse of `_stitch`."""
        side, g = self.config.windows_per_side, self.config.window_grid
        c = full.shape[-1]
        x = full.view(-1, side, g, side, g, c).permute(1, 3, 0, 2, 4, 5)
        return x.reshape(-1, g * g, c)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.encode(pixel_values).embeds

    def encode(self, pixel_values: torch.Tensor) -> TextMonkeyVisualOutput:
        """The embeddings (local tokens, then the global view's) and the resampler's kept indices."""
        config = self.textmonkey_config
        pixels = pixel_values.to(device=self.compute_device, dtype=torch.float32)
        batch = pixels.shape[0]
        n_windows = config.vit.windows_per_side**2
        full_grid = self.conv1(pixels.to(self.compute_dtype))  # (B, C, 64, 64)
        window_grids = torch.cat(self.window_views_of_grid(full_grid), dim=0)
        grids = [window_grids]
        if config.use_global:
            grids.append(self.conv1(self.global_view(pixels).to(self.compute_dtype)))
        tokens = self.tokens_from_patch_grid(torch.cat(grids, dim=0))
        n_local_rows = n_windows * batch
        window_modules = iter(getattr(self.transformer, "window_attention", nn.ModuleList()))
        for index, block in enumerate(self.transformer.resblocks):
            if config.add_window and index in config.window_pos:
                crossed = self._split(next(window_modules)(self._stitch(tokens[:n_local_rows])))
                tokens = torch.cat([crossed, tokens[n_local_rows:]], dim=0)
            tokens = block(tokens, self.view_adapters)
        pooled = self.pool(tokens)
        local = self.image_major(pooled[:n_local_rows], n_windows)
        kept = None
        if config.resampler:
            kept = select_least_redundant(local, config.r)
            local = self.downresampler(local, kept)
        if config.use_global:
            local = torch.cat([local, pooled[n_local_rows:]], dim=1)
        return TextMonkeyVisualOutput(local, kept)

    def window_views_of_grid(self, grid: torch.Tensor) -> list[torch.Tensor]:
        """The 32x32-patch windows of the full patch map, row-major."""
        side, g = self.config.windows_per_side, self.config.window_grid
        return [
            grid[..., row * g : (row + 1) * g, col * g : (col + 1) * g]
            for row in range(side)
            for col in range(side)
        ]
