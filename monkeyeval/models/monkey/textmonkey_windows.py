"""TextMonkey's shifted-window cross-window attention (upstream `text_monkey/window.py`, commit 498e1d9).

`y = x + Swin(x + position_embedding)`, Swin = `downsample` -> `h + WindowAttention(norm1 h)` (cyclic roll by
-shift, zero padding to a multiple of the window *after* norm1 and roll, region mask -100, relative position
bias) -> `Mlp(norm2 h) * scale` back to the ViT width (no residual inside). Swin LayerNorms use eps 1e-5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SWIN_LAYER_NORM_EPS = 1e-5  # nn.LayerNorm default, as upstream's window and resampler modules use
WINDOW_MASK_VALUE = -100.0


def relative_position_index(size: int) -> torch.Tensor:
    """(N, N) index into the (2*size-1)**2 bias table for every pair of positions of a size x size window."""
    coords = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")).flatten(1)
    delta = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (size - 1)
    return delta[..., 0] * (2 * size - 1) + delta[..., 1]


def shifted_window_mask(padded: int, size: int, shift: int) -> torch.Tensor:
    """(n_windows, N, N): 0 within a region, -100 across regions (upstream's mask on the padded map)."""
    regions = torch.zeros(padded, padded)
    bounds = (slice(0, -size), slice(-size, -shift), slice(-shift, None))
    label = 0
    for rows in bounds:
        for cols in bounds:
            regions[rows, cols] = label
            label += 1
    per_window = partition_windows(regions[None, :, :, None], size).flatten(1)  # (nW, N)
    differs = per_window[:, None, :] != per_window[:, :, None]
    return torch.zeros(differs.shape).masked_fill(differs, WINDOW_MASK_VALUE)


def partition_windows(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, size, size, C), windows row-major within each image."""
    b, h, w, c = x.shape
    x = x.view(b, h // size, size, w // size, size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, size, size, c)


def merge_windows(windows: torch.Tensor, size: int, h: int, w: int) -> torch.Tensor:
    """Inverse of `partition_windows`."""
    c = windows.shape[-1]
    x = windows.view(-1, h // size, w // size, size, size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


class WindowAttention(nn.Module):
    """Windowed multi-head attention with a learnt relative position bias (timm/Swin parameter names)."""

    def __init__(self, dim: int, heads: int, window_size: int) -> None:
        super().__init__()
        self.heads = heads
        self.window_size = window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.qkv = nn.Linear(dim, 3 * (dim // heads) * heads)
        self.proj = nn.Linear((dim // heads) * heads, dim)

    def bias(self, mask: torch.Tensor) -> torch.Tensor:
        """(1, nW * heads, N, N): relative position bias plus the region mask, per window and head."""
        area = self.window_size**2
        index = relative_position_index(self.window_size).to(self.relative_position_bias_table.device)
        rel = self.relative_position_bias_table[index.view(-1)].view(area, area, -1).permute(2, 0, 1)
        return (rel[None] + mask[:, None].to(rel.dtype)).flatten(0, 1)[None]

    def forward(self, windows: torch.Tensor, batch: int, mask: torch.Tensor) -> torch.Tensor:
        """windows (B * nW, N, C), B outer; mask (nW, N, N)."""
        n_win_total, area, _ = windows.shape
        qkv = self.qkv(windows).view(batch, n_win_total // batch, area, 3, self.heads, -1)
        # (3, B, nW, heads, N, d) -> windows folded into the head axis: (B, nW * heads, N, d)
        query, key, value = (t.flatten(1, 2) for t in qkv.permute(3, 0, 1, 4, 2, 5).unbind(0))
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=self.bias(mask))
        context = context.reshape(n_win_total, self.heads, area, -1).transpose(1, 2).flatten(2)
        return self.proj(context)


class SwinMlp(nn.Module):
    """fc1 (no bias) -> GELU -> fc2 (no bias) -> * scale."""

    def __init__(self, in_features: int, hidden: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden, bias=False)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, out_features, bias=False)
        self.scale = nn.Parameter(torch.ones(1))
        nn.init.zeros_(self.fc2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x))) * self.scale


class SwinBlock(nn.Module):
    """Upstream's `SwinTransformerBlock` as TextMonkey configures it (shifted windows, ViT width output)."""

    def __init__(self, dim: int, hidden: int, heads: int, resolution: int, window_size: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.window_size = min(window_size, resolution)
        self.shift = 0 if resolution <= window_size else window_size // 2
        self.downsample = nn.Linear(dim, hidden, bias=False)
        self.norm1 = nn.LayerNorm(hidden, eps=SWIN_LAYER_NORM_EPS)
        self.attn = WindowAttention(hidden, heads, self.window_size)
        self.norm2 = nn.LayerNorm(hidden, eps=SWIN_LAYER_NORM_EPS)
        self.mlp = SwinMlp(hidden, 2 * hidden, dim)

    def _window_attention(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        size, shift = self.window_size, self.shift
        if shift:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        pad_h, pad_w = (-h) % size, (-w) % size
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        hp, wp = h + pad_h, w + pad_w
        mask = shifted_window_mask(hp, size, shift) if shift else torch.zeros(1, size * size, size * size)
        windows = partition_windows(x, size).flatten(1, 2)
        attended = self.attn(windows, b, mask.to(x.device))
        x = merge_windows(attended.view(-1, size, size, c), size, hp, wp)[:, :h, :w, :]
        if shift:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, dim) -> (B, H, W, dim)."""
        h = self.downsample(x)
        h = h + self._window_attention(self.norm1(h))
        return self.mlp(self.norm2(h))


class CrossWindowAttention(nn.Module):
    """`x + Swin(x + position_embedding)` over the whole patch map (stitched windows)."""

    def __init__(self, grid: int, dim: int, hidden: int, heads: int, window_size: int) -> None:
        super().__init__()
        self.grid = grid
        self.position_embedding = nn.Parameter(torch.zeros(1, grid * grid, dim))
        nn.init.trunc_normal_(self.position_embedding, std=0.02)
        self.shift_attn = SwinBlock(dim, hidden, heads, grid, window_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, grid*grid, dim) row-major -> same shape."""
        b, length, dim = tokens.shape
        if length != self.grid * self.grid:
            raise ValueError(f"CrossWindowAttention expects {self.grid}x{self.grid} tokens, got {length}")
        shifted = self.shift_attn((tokens + self.position_embedding).view(b, self.grid, self.grid, dim))
        return shifted.view(b, length, dim) + tokens
