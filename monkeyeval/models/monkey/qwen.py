"""The QWen language model of Monkey / TextMonkey in plain PyTorch (checkpoint names as upstream).

Layers as upstream `modeling_qwen.py` (Monkey commit 498e1d9): `wte`; per block `x + attn(RMSNorm(x))`
then `+ mlp(RMSNorm(.))`, attention with one fused `c_attn` (bias) split into [q | k | v], `c_proj` without
bias, MLP `c_proj(w1(x) * silu(w2(x)))` (silu on **w2**); `ln_f`. RMSNorm, RoPE and logn run in float32
where upstream does. Attention uses `scaled_dot_product_attention` with an additive mask (finfo.min on the
causal and padding blocks, never -inf, so fully masked padding rows stay finite).

Positions (RoPE, dynamic NTK, logn) come in two modes:

- **raw** (default, `padding_aware_positions=False`): exactly upstream. RoPE uses the raw index in the
  padded batch (left-padded rows are shifted to higher positions), the dynamic-NTK alpha is computed from
  the padded length L at the first step, `alpha = max(2**ceil(log2(L / seq_length) + 1) - 1, 1)`, and
  reused for the decode steps; logn multiplies the query at raw index p by `log(p+1)/log(seq_length)` when
  p + 1 > seq_length. Answers then depend slightly on the batch composition, as upstream's do.
- **padding-aware** (`padding_aware_positions=True`): every row uses positions counted over its own
  tokens (from the attention mask) and its own NTK alpha (from its own prompt length), so a row's result
  does not depend on what it is batched with (equal to its batch-1 result up to float noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from monkeyeval.models.decoding.cache import KVCache
from monkeyeval.models.decoding.layers import RMSNorm, rotate_half
from monkeyeval.models.decoding.masks import allowed_keys


@dataclass(frozen=True)
class QwenConfig:
    """The language-model fields of a QWen/Monkey config.json."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    kv_channels: int
    intermediate_size: int
    seq_length: int = 2048
    rotary_emb_base: float = 10000
    rotary_pct: float = 1.0
    layer_norm_epsilon: float = 1e-6
    use_dynamic_ntk: bool = True
    use_logn_attn: bool = True
    no_bias: bool = True

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> QwenConfig:
        """Read the fields from a parsed config.json (missing optional fields take upstream defaults)."""
        names = cls.__dataclass_fields__
        missing = [
            n
            for n in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")
            if n not in config
        ]
        if missing:
            raise ValueError(f"config.json lacks the QWen fields {missing}")
        values = {name: config[name] for name in names if name in config}
        values.setdefault("kv_channels", config["hidden_size"] // config["num_attention_heads"])
        values.setdefault("intermediate_size", 4 * config["hidden_size"] * 2)
        return cls(**values)

    @property
    def rotary_dim(self) -> int:
        """Channels per head that RoPE rotates."""
        return self.kv_channels if self.rotary_pct == 1.0 else int(self.kv_channels * self.rotary_pct)


def ntk_alpha_for_length(length: int, seq_length: int) -> float:
    """Upstream dynamic-NTK alpha for a first-step sequence of `length` tokens."""
    context_value = math.log(length / seq_length, 2) + 1
    return float(max(2 ** math.ceil(context_value) - 1, 1))


def rotary_inv_freq(dim: int, base: float, alpha: float, device: torch.device | None = None) -> torch.Tensor:
    """Inverse frequencies (float32) for NTK alpha, computed with upstream's expression."""
    scaled_base = base * alpha ** (dim / (dim - 2))
    return 1.0 / (scaled_base ** (torch.arange(0, dim, 2, device=device).float() / dim))


def logn_scale(positions: torch.Tensor, seq_length: int) -> torch.Tensor:
    """float32 logn factor per 0-based position: log(p+1)/log(seq_length) past seq_length, else 1."""
    count = (positions + 1).double()
    scaled = torch.log(count) / math.log(seq_length)
    return torch.where(count > seq_length, scaled, torch.ones_like(scaled)).float()


@dataclass
class PositionInfo:
    """Per-call rotary tables and logn factors, shared by every layer.

    `cos`/`sin`: float32 (B, T, 1, rotary_dim); `logn`: float32 (B, T, 1, 1) or None.
    """

    cos: torch.Tensor
    sin: torch.Tensor
    logn: torch.Tensor | None


def build_positions(
    config: QwenConfig, positions: torch.Tensor, alphas: torch.Tensor, use_logn: bool
) -> PositionInfo:
    """Rotary cos/sin for integer `positions` (B, T) with one NTK alpha per row (`alphas`, shape (B,))."""
    dim = config.rotary_dim
    rows = []
    distinct = {float(a) for a in alphas.tolist()}
    freq_by_alpha = {a: rotary_inv_freq(dim, config.rotary_emb_base, a, positions.device) for a in distinct}
    for row, alpha in enumerate(alphas.tolist()):
        inv_freq = freq_by_alpha[float(alpha)]
        rows.append(positions[row].float()[:, None] * inv_freq[None, :])
    freqs = torch.stack(rows)  # (B, T, dim/2), float32 as upstream's outer product
    emb = torch.cat((freqs, freqs), dim=-1)[:, :, None, :]
    logn = None
    if use_logn and config.use_logn_attn:
        logn = logn_scale(positions, config.seq_length)[:, :, None, None]
    return PositionInfo(cos=emb.cos(), sin=emb.sin(), logn=logn)


def apply_rotary(t: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE in float32 on the first rotary_dim channels, result in t's dtype."""
    rot_dim = cos.shape[-1]
    rotated, passed = t[..., :rot_dim].float(), t[..., rot_dim:].float()
    rotated = rotated * cos + rotate_half(rotated) * sin
    return torch.cat((rotated, passed), dim=-1).type_as(t)


class QwenAttention(nn.Module):
    """Self-attention with fused c_attn, RoPE, logn and SDPA."""

    def __init__(self, config: QwenConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        projection = config.kv_channels * config.num_attention_heads
        self.split_size = config.hidden_size
        self.c_attn = nn.Linear(config.hidden_size, 3 * projection)
        self.c_proj = nn.Linear(config.hidden_size, projection, bias=not config.no_bias)

    def forward(
        self,
        hidden: torch.Tensor,
        pos: PositionInfo,
        mask: torch.Tensor | None,
        cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        batch, length, _ = hidden.shape
        query, key, value = self.c_attn(hidden).split(self.split_size, dim=2)
        query = query.view(batch, length, self.num_heads, self.head_dim)
        key = key.view(batch, length, self.num_heads, self.head_dim)
        value = value.view(batch, length, self.num_heads, self.head_dim)
        query = apply_rotary(query, pos.cos, pos.sin)
        key = apply_rotary(key, pos.cos, pos.sin)
        if pos.logn is not None:
            query = query * pos.logn.type_as(query)
        query, key, value = (t.transpose(1, 2) for t in (query, key, value))
        if cache is not None:
            key, value = cache.store(layer, key, value)
        if mask is None:
            context = F.scaled_dot_product_attention(query, key, value, is_causal=length > 1)
        else:
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        context = context.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim)
        return self.c_proj(context)


class QwenMLP(nn.Module):
    """SwiGLU as upstream: c_proj(w1(x) * silu(w2(x)))."""

    def __init__(self, config: QwenConfig) -> None:
        super().__init__()
        inner = config.intermediate_size // 2
        self.w1 = nn.Linear(config.hidden_size, inner, bias=not config.no_bias)
        self.w2 = nn.Linear(config.hidden_size, inner, bias=not config.no_bias)
        self.c_proj = nn.Linear(inner, config.hidden_size, bias=not config.no_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.w1(x) * F.silu(self.w2(x)))


class QwenBlock(nn.Module):
    """Pre-norm decoder block."""

    def __init__(self, config: QwenConfig) -> None:
        super().__init__()
        self.ln_1 = RMSNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.attn = QwenAttention(config)
        self.ln_2 = RMSNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.mlp = QwenMLP(config)

    def forward(
        self, x: torch.Tensor, pos: PositionInfo, mask: torch.Tensor | None, cache: KVCache | None, layer: int
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), pos, mask, cache, layer)
        return x + self.mlp(self.ln_2(x))


def attention_bias(key_mask: torch.Tensor, query_length: int, dtype: torch.dtype) -> torch.Tensor | None:
    """Additive (B, 1, T, K) mask: finfo.min where the key is padding or in the future; None if not needed.

    `key_mask` (B, K) is 1 for real tokens. Queries are the last `query_length` of the K positions.
    """
    total = key_mask.shape[1]
    padded = bool((key_mask == 0).any())
    if not padded:
        return None
    allowed = allowed_keys(key_mask, query_length, total, key_mask.device)
    bias = torch.zeros(allowed.shape, dtype=dtype, device=key_mask.device)
    return bias.masked_fill_(~allowed, torch.finfo(dtype).min)


class QwenModel(nn.Module):
    """wte + blocks + ln_f (parameter names as upstream's `transformer.*`, minus the visual tower)."""

    def __init__(self, config: QwenConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.hidden_size)
        self.h = nn.ModuleList(QwenBlock(config) for _ in range(config.num_hidden_layers))
        self.ln_f = RMSNorm(config.hidden_size, eps=config.layer_norm_epsilon)

    def new_cache(self, batch: int, capacity: int, like: torch.Tensor) -> KVCache:
        """An empty KV cache for `batch` rows and up to `capacity` positions."""
        heads = self.config.num_attention_heads
        shape = (batch, heads, capacity, self.config.hidden_size // heads)
        return KVCache(len(self.h), shape, like.device, like.dtype)

    def forward(
        self,
        hidden: torch.Tensor,
        key_mask: torch.Tensor,
        positions: torch.Tensor,
        alphas: torch.Tensor,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Run the blocks on input embeddings `hidden` (B, T, H); returns ln_f output (B, T, H).

        `key_mask` (B, K): 1 for real tokens over all K = cached + T positions; `positions` (B, T) integer
        RoPE/logn positions of this call's tokens; `alphas` (B,) NTK alpha per row.
        """
        pos = build_positions(self.config, positions, alphas, use_logn=True)
        mask = attention_bias(key_mask, hidden.shape[1], hidden.dtype)
        for index, block in enumerate(self.h):
            hidden = block(hidden, pos, mask, cache, index)
        if cache is not None:
            cache.length += hidden.shape[1]
        return self.ln_f(hidden)
