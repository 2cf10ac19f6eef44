"""The real (full-size) Monkey, TextMonkey and Mini-Monkey configs, random-weight builders, prompts, timing
and the analytic FLOP counts shared by the bench scripts (`bench_monkey_generate.py`,
`bench_minimonkey_generate.py`, `gpu_suite.py`).

Random models are built on the meta device in the target dtype and materialised with `to_empty`, so no
float32 copy is made and nothing depends on what `build_model` / `from_pretrained` return. None of the models
holds buffers: rotary tables, attention masks, window masks and relative-position indices are computed in
`forward`; the one constant set in `__init__` (the ViT resampler's sin-cos `pos_embed`, a parameter) is
recomputed after initialisation. FLOP conventions are documented in `gpu_suite.py`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from bench_monkey_vision import MONKEY_VISUAL, TEXTMONKEY_VISUAL

from monkeyeval.models.dtypes import resolve_dtype
from monkeyeval.models.minimonkey.generate import GenerationRequest, GreedySettings, greedy_generate
from monkeyeval.models.minimonkey.model import MiniMonkeyConfig, MiniMonkeyForCausalLM
from monkeyeval.models.monkey.adapter import MonkeyAdapter, TextMonkeyAdapter
from monkeyeval.models.monkey.generate import greedy_generate as monkey_greedy_generate
from monkeyeval.models.monkey.model import MonkeyForCausalLM
from monkeyeval.models.monkey.qwen import QwenConfig
from monkeyeval.models.monkey.textmonkey_vision import TextMonkeyVisualConfig
from monkeyeval.models.monkey.vision_vit import (
    ATTN_LORA_RANK,
    MLP_LORA_RANK,
    Resampler,
    ViTConfig,
    sincos_position_table,
)

REAL_MONKEY_CONFIG: dict[str, Any] = {  # echo840/Monkey config.json (facts doc section 6)
    "architectures": ["MonkeyLMHeadModel"],
    "model_type": "monkey",
    "bf16": True,
    "hidden_size": 4096,
    "intermediate_size": 22016,
    "kv_channels": 128,
    "layer_norm_epsilon": 1e-06,
    "no_bias": True,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "rotary_emb_base": 10000,
    "rotary_pct": 1.0,
    "seq_length": 2048,
    "use_dynamic_ntk": True,
    "use_logn_attn": True,
    "vocab_size": 151936,
    "visual": {**MONKEY_VISUAL, "image_start_id": 151857},
}
# TextMonkey = Qwen-7B + the windowed ViT (facts doc section 3.3: 768 image tokens = 512 kept local + 256
# global; lora_repeat_num 0 as in the training args, unverified for the released config)
REAL_TEXTMONKEY_CONFIG: dict[str, Any] = {
    **REAL_MONKEY_CONFIG,
    "architectures": ["TextMonkeyLMHeadModel"],
    "visual": {**TEXTMONKEY_VISUAL, "image_start_id": 151857},
}
REAL_MINIMONKEY_CONFIG: dict[str, Any] = {  # InternVL2-2B / Mini-Monkey config.json, structural fields
    "architectures": ["MiniMonkeyChatModel"],
    "model_type": "internvl_chat",
    "downsample_ratio": 0.5,
    "force_image_size": 448,
    "ps_version": "v2",
    "select_layer": -1,
    "template": "internlm2-chat",
    "vision_config": {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_attention_heads": 16,
        "num_hidden_layers": 24,
        "image_size": 448,
        "patch_size": 14,
        "qkv_bias": True,
        "qk_normalization": False,
        "norm_type": "layer_norm",
        "layer_norm_eps": 1e-6,
        "hidden_act": "gelu",
    },
    "llm_config": {
        "architectures": ["InternLM2ForCausalLM"],
        "vocab_size": 92553,
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-5,
        "rope_theta": 1000000,
        "rope_scaling": {"type": "dynamic", "factor": 2.0},
        "max_position_embeddings": 32768,
        "bias": False,
        "hidden_act": "silu",
    },
}
IMG_START, IMG_END, IMG_CONTEXT = 92544, 92545, 92546  # InternVL's added-token order in the real tokenizer
INIT_STD = 0.02


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def restore_sincos_tables(model: torch.nn.Module) -> None:
    """Every ViT resampler's `pos_embed` back to the sin-cos table `__init__` computes (lost on meta)."""
    for module in model.modules():
        if isinstance(module, Resampler):
            table = sincos_position_table(module.pos_embed.shape[1], math.isqrt(module.pos_embed.shape[0]))
            module.pos_embed.data.copy_(table)


# ---- Monkey / TextMonkey ----------------------------------------------------------------------------------


def random_monkey(config: dict[str, Any], device: torch.device, dtype: torch.dtype) -> MonkeyForCausalLM:
    """The full Monkey or TextMonkey model with N(0, 0.02) weights (norm scales 1)."""
    adapter = TextMonkeyAdapter if TextMonkeyAdapter.detect(config) else MonkeyAdapter
    with torch.device("meta"):
        model = MonkeyForCausalLM(config, adapter.vision_tower.from_visual_config(config["visual"]))
    model = model.to(dtype).to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 1 and ("ln" in name or "norm" in name):
                param.fill_(1.0)
            else:
                param.normal_(0.0, INIT_STD, generator=generator)
        restore_sincos_tables(model)
    return model.requires_grad_(False).eval()


def image_side(config: dict[str, Any]) -> int:
    """config.visual.image_size (an int, or [H, W] for TextMonkey)."""
    size = config["visual"].get("image_size", 896)
    return int(size[0] if isinstance(size, list) else size)


def image_span(config: dict[str, Any]) -> int:
    """Slots between `<img>` and `</img>`: 1280 for Monkey, config.visual.n_queries for TextMonkey."""
    adapter = TextMonkeyAdapter if TextMonkeyAdapter.detect(config) else MonkeyAdapter
    return adapter.image_span(config)


def prompt_ids(config: dict[str, Any], prompt_tokens: int, span: int = 1280) -> list[int]:
    """`<img>` + path bytes + `<imgpad>`… + `</img>` + question tokens, `prompt_tokens` long in all."""
    start = int(config["visual"]["image_start_id"])
    path = list(b"data/docvqa/images/ffbf0023_4.png")
    span_ids = [start, *path, *([start + 2] * (span - len(path))), start + 1]
    question = [(17 * i + 11) % 5000 + 300 for i in range(max(prompt_tokens - len(span_ids), 1))]
    return span_ids + question


def time_batch(
    model: MonkeyForCausalLM, ids: list[int], batch: int, new_tokens: int, device: torch.device
) -> tuple[float, float]:
    """(vision seconds, LM seconds) for one batch, exactly `new_tokens` new tokens per row (eod blocked)."""
    input_ids = torch.tensor([ids] * batch, device=device)
    mask = torch.ones_like(input_ids)
    size = image_side(model.config)
    pixels = torch.randn(batch, 3, size, size, device=device)
    sync(device)
    begin = time.perf_counter()
    with torch.inference_mode():
        embeds = model.encode_images(pixels)
    sync(device)
    middle = time.perf_counter()
    output = monkey_greedy_generate(
        model, input_ids, mask, embeds, eod_id=int(model.config["visual"]["image_start_id"]) - 214,
        max_new_tokens=new_tokens, min_new_tokens=new_tokens,
    )  # fmt: skip
    sync(device)
    end = time.perf_counter()
    assert all(n == new_tokens for n in output.n_new_tokens)
    return middle - begin, end - middle


# ---- Mini-Monkey ------------------------------------------------------------------------------------------


def random_minimonkey(config: MiniMonkeyConfig, device: str, dtype: str) -> MiniMonkeyForCausalLM:
    """The full model with N(0, 0.02) weights (norm and layer scales 1, biases 0)."""
    with torch.device("meta"):
        model = MiniMonkeyForCausalLM(config)
    model = model.to(resolve_dtype(dtype, device, torch.bfloat16)).to_empty(device=device)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("norm.weight", "norm1.weight", "norm2.weight", "ls1", "ls2", "mlp1.0.weight")):
                parameter.fill_(1.0)
            elif name.endswith("bias"):
                parameter.zero_()
            else:
                parameter.normal_(0.0, INIT_STD)
    return model.requires_grad_(False).eval()


def request(config: MiniMonkeyConfig, tiles: int, generator: torch.Generator) -> GenerationRequest:
    """One DocVQA-like prompt: system + question text around an image span of `tiles` tiles."""
    vocab = config.llm.vocab_size
    context_id = IMG_CONTEXT % vocab
    text = torch.randint(3, min(vocab, 92538), (90,), generator=generator)
    text = torch.where(text == context_id, 3, text)
    span = torch.tensor([IMG_START] + [IMG_CONTEXT] * (tiles * config.tokens_per_tile) + [IMG_END]) % vocab
    size = config.image_size
    return GenerationRequest(
        input_ids=torch.cat([torch.tensor([1]), text[:60], span, text[60:]]),
        pixel_values=torch.randn(tiles, 3, size, size, generator=generator).to(torch.bfloat16),
        primary_tiles=min(tiles, 24),
    )


def forced_settings(config: MiniMonkeyConfig, new_tokens: int) -> GreedySettings:
    """Greedy settings that always give exactly `new_tokens` tokens (eos -1 never matches)."""
    context_id = IMG_CONTEXT % config.llm.vocab_size
    return GreedySettings(
        max_new_tokens=new_tokens, eos_id=-1, pad_id=2, img_context_id=context_id, vision_batch=64
    )


def time_minimonkey_batch(
    model: MiniMonkeyForCausalLM, requests: list[GenerationRequest], settings: GreedySettings, device: str
) -> dict[str, float]:
    """Wall seconds of the vision pass alone and of the whole greedy_generate call."""
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        model.extract_feature(torch.cat([r.pixel_values for r in requests if r.pixel_values is not None]))
    sync(device)
    vision = time.perf_counter() - start
    start = time.perf_counter()
    results = greedy_generate(model, requests, settings)
    sync(device)
    total = time.perf_counter() - start
    assert all(len(r.token_ids) == settings.max_new_tokens for r in results)
    return {"vision_s": vision, "total_s": total}


# ---- analytic FLOPs (conventions: gpu_suite.py's docstring) ----------------------------------------------


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one batch: the vision tower(s) and the language model (prefill + decode)."""

    vision: float
    language: float

    @property
    def total(self) -> float:
        return self.vision + self.language


@dataclass(frozen=True)
class LanguageShape:
    """What the LM FLOPs depend on: matmul weights per block (all layers), depth, attention width, head."""

    block_params: int
    layers: int
    attention_width: int  # query heads x head_dim
    hidden: int
    vocab: int


def qwen_shape(config: dict[str, Any]) -> LanguageShape:
    """QWen: c_attn H x 3D, c_proj H x D, w1/w2 H x I/2, mlp c_proj I/2 x H per layer (D = heads x kv)."""
    qwen = QwenConfig.from_dict(config)
    width = qwen.num_attention_heads * qwen.kv_channels
    per_layer = 4 * qwen.hidden_size * width + 3 * qwen.hidden_size * (qwen.intermediate_size // 2)
    head_dim = qwen.hidden_size // qwen.num_attention_heads
    return LanguageShape(
        per_layer * qwen.num_hidden_layers,
        qwen.num_hidden_layers,
        qwen.num_attention_heads * head_dim,
        qwen.hidden_size,
        qwen.vocab_size,
    )


def internlm2_shape(config: MiniMonkeyConfig) -> LanguageShape:
    """InternLM2: wqkv H x (heads + 2 kv) hd, wo heads hd x H, w1/w3 H x I, w2 I x H per layer."""
    llm = config.llm
    hd = llm.head_dim
    attention = llm.hidden_size * (llm.num_attention_heads + 2 * llm.num_key_value_heads) * hd
    attention += llm.num_attention_heads * hd * llm.hidden_size
    per_layer = attention + 3 * llm.hidden_size * llm.intermediate_size
    return LanguageShape(
        per_layer * llm.num_hidden_layers,
        llm.num_hidden_layers,
        llm.num_attention_heads * hd,
        llm.hidden_size,
        llm.vocab_size,
    )


def language_flops(shape: LanguageShape, prompt: int, new_tokens: int) -> float:
    """One row: prompt + new_tokens - 1 tokens through the blocks, new_tokens head calls, causal attention."""
    tokens = prompt + new_tokens - 1
    decode_keys = (new_tokens - 1) * prompt + new_tokens * (new_tokens - 1) // 2
    attention = shape.layers * (2 * shape.attention_width * prompt * (prompt + 1))
    attention += shape.layers * 4 * shape.attention_width * decode_keys
    head = 2 * shape.hidden * shape.vocab * new_tokens
    return float(2 * shape.block_params * tokens + head + attention)


def vit_trunk_flops(width: int, mlp_width: int, layers: int, tokens: int) -> int:
    """One view through `layers` pre-norm blocks (qkv 3W^2, out W^2, MLP 2WM; full attention 4T^2W)."""
    return layers * (2 * tokens * (4 * width * width + 2 * width * mlp_width) + 4 * tokens * tokens * width)


def resampler_flops(vit: ViTConfig, views: int) -> int:
    """attn_pool + ln_post @ proj over `views` views; the shared query projection runs once per call."""
    tokens, width, dim, queries = vit.window_grid**2, vit.width, vit.output_dim, vit.n_queries
    per_view = 2 * tokens * width * dim if width != dim else 0  # kv_proj
    per_view += 2 * tokens * 2 * dim * dim + 4 * queries * tokens * dim  # k, v projections; attention
    per_view += 2 * queries * dim * dim * 2  # out_proj, proj
    return views * per_view + 2 * queries * dim * dim


def lora_flops(vit: ViTConfig, lora_views: int) -> int:
    """LoRA adapters (in_proj, out_proj: rank 16; MLP: rank 32) on `lora_views` views, every layer."""
    per_token = ATTN_LORA_RANK * (vit.width + 3 * vit.width) + ATTN_LORA_RANK * 2 * vit.width
    per_token += MLP_LORA_RANK * 2 * vit.width
    return lora_views * vit.layers * 2 * vit.window_grid**2 * per_token


def patch_flops(patches: int, patch: int, width: int) -> int:
    return 2 * patches * 3 * patch * patch * width


def monkey_vision_flops(visual: dict[str, Any], images: int) -> float:
    """Monkey: 4 LoRA windows + 1 global view of 448 px per image, each resampled to 256 tokens."""
    vit = ViTConfig.from_visual(visual, default_lora=4, n_queries=None)
    windows = vit.windows_per_side**2
    views = images * (windows + 1)
    tokens = vit.window_grid**2
    total = patch_flops(views * tokens, vit.patch_size, vit.width)
    total += views * vit_trunk_flops(vit.width, vit.mlp_width, vit.layers, tokens)
    return float(total + lora_flops(vit, images * windows) + resampler_flops(vit, views))


def textmonkey_vision_flops(visual: dict[str, Any], images: int) -> float:
    """TextMonkey: windows (+ global view), cross-window attention, resampler, token resampler per image."""
    config = TextMonkeyVisualConfig.from_visual(visual)
    vit = config.vit
    windows = vit.windows_per_side**2
    views = windows + int(config.use_global)
    tokens = vit.window_grid**2
    per_image = patch_flops(views * tokens, vit.patch_size, vit.width)
    per_image += views * vit_trunk_flops(vit.width, vit.mlp_width, vit.layers, tokens)
    per_image += lora_flops(vit, windows) if vit.lora_repeat_num else 0
    if config.add_window:  # the j-th block index listed in window_pos runs window module j
        applied = len({pos for pos in config.window_pos if 0 <= pos < vit.layers})
        per_image += sum(cross_window_flops(config, j) for j in range(applied))
    if config.resampler:
        per_image += token_resampler_flops(config, windows * vit.n_queries)
    return float(images * per_image + resampler_flops(vit, images * views))


def cross_window_flops(config: TextMonkeyVisualConfig, index: int) -> int:
    """One CrossWindowAttention over the full patch map: downsample, shifted-window attention, MLP."""
    vit = config.vit
    grid = vit.image_size // vit.patch_size
    hidden, heads = config.window_dim[index], config.window_head[index]
    inner = hidden // heads * heads
    size = min(config.window_size, grid)
    padded = math.ceil(grid / size) * size
    full, padded_tokens = grid * grid, padded * padded
    total = 2 * full * vit.width * hidden  # downsample
    total += 2 * padded_tokens * (hidden * 3 * inner + inner * hidden)  # qkv, proj (padded windows)
    total += 4 * padded_tokens * size * size * inner  # attention within each window
    return total + 2 * full * (hidden * 2 * hidden + 2 * hidden * vit.width)  # MLP back to the ViT width


def token_resampler_flops(config: TextMonkeyVisualConfig, local: int) -> int:
    """Redundancy scores (2 n^2 E), downsample, Perceiver attention and feed-forward on the r kept tokens."""
    sizes, kept, dim = config.token_resampler, config.r, config.vit.output_dim
    inner = sizes.dim_head * sizes.heads
    total = 2 * local * local * dim + 2 * (local + kept) * dim * sizes.in_dim
    layer = 2 * kept * sizes.in_dim * inner + 2 * (local + kept) * sizes.in_dim * 2 * inner
    layer += 4 * kept * (local + kept) * inner + 2 * kept * inner * sizes.in_dim
    layer += 2 * kept * sizes.in_dim * sizes.in_dim + 2 * kept * sizes.in_dim * sizes.out_dim
    return total + sizes.depth * layer


def minimonkey_vision_flops(config: MiniMonkeyConfig, tiles: int) -> float:
    """InternViT per 448 px tile (patches + class token), pixel shuffle, mlp1 (4W -> H -> H)."""
    vision = config.vision
    grid = config.image_size // vision.patch_size
    tokens = grid * grid + 1
    depth = vision.num_hidden_layers
    layers = depth if config.select_layer < 0 else config.select_layer
    per_tile = patch_flops(grid * grid, vision.patch_size, vision.hidden_size)
    per_tile += vit_trunk_flops(vision.hidden_size, vision.intermediate_size, layers, tokens)
    shuffled, width, hidden = grid * grid // 4, 4 * vision.hidden_size, config.llm.hidden_size
    per_tile += 2 * shuffled * (width * hidden + hidden * hidden)
    return float(tiles * per_tile)
