"""Throughput of the native Mini-Monkey (InternViT + pixel shuffle + mlp1 + InternLM2) with random weights.

Builds the model from the real Mini-Monkey / InternVL2-2B config (embedded below; no download) or from a
checkpoint folder's config.json, fills it with random weights, and times `greedy_generate` on DocVQA-like
inputs at the DocVQA budget's maximum (24 primary + 8 secondary + thumbnail = 33 tiles, 8448 image
tokens), forcing exactly `--new-tokens` new tokens. Prints samples/s, the vision / LM split and peak GPU
memory.

    python bench/bench_minimonkey_generate.py --device cuda --dtype bf16 --batch-sizes 1,4,16
    python bench/bench_minimonkey_generate.py --config tests/fixtures/parity/minimonkey/checkpoint \
        --device cpu --tiles 5 --batch-sizes 1,2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from monkeyeval.models.minimonkey.generate import GenerationRequest, GreedySettings, greedy_generate
from monkeyeval.models.minimonkey.model import MiniMonkeyConfig, MiniMonkeyForCausalLM, resolve_dtype

REAL_CONFIG: dict[str, Any] = {  # InternVL2-2B / Mini-Monkey config.json, structural fields
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


def random_model(config: MiniMonkeyConfig, device: str, dtype: str) -> MiniMonkeyForCausalLM:
    """The full model with N(0, 0.02) weights (norm and layer scales 1, biases 0)."""
    with torch.device("meta"):
        model = MiniMonkeyForCausalLM(config)
    model = model.to_empty(device=device).to(resolve_dtype(dtype, device))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("norm.weight", "norm1.weight", "norm2.weight", "ls1", "ls2", "mlp1.0.weight")):
                parameter.fill_(1.0)
            elif name.endswith("bias"):
                parameter.zero_()
            else:
                parameter.normal_(0.0, 0.02)
    return model.eval()


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


def time_batch(
    model: MiniMonkeyForCausalLM, requests: list[GenerationRequest], settings: GreedySettings, device: str
) -> dict[str, float]:
    """Wall seconds of the vision pass alone and of the whole greedy_generate call."""

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    sync()
    start = time.perf_counter()
    with torch.inference_mode():
        model.extract_feature(torch.cat([r.pixel_values for r in requests if r.pixel_values is not None]))
    sync()
    vision = time.perf_counter() - start
    start = time.perf_counter()
    results = greedy_generate(model, requests, settings)
    sync()
    total = time.perf_counter() - start
    assert all(len(r.token_ids) == settings.max_new_tokens for r in results)
    return {"vision_s": vision, "total_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, help="checkpoint folder whose config.json to use")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="auto", help="auto | bf16 | fp16 | fp32")
    parser.add_argument("--batch-sizes", default="1,4,16")
    parser.add_argument("--tiles", type=int, default=33, help="tiles per sample (33 = DocVQA maximum)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats after one warm-up")
    args = parser.parse_args()

    raw = json.loads((args.config / "config.json").read_text()) if args.config else REAL_CONFIG
    config = MiniMonkeyConfig.from_dict(raw)
    model = random_model(config, args.device, args.dtype)
    generator = torch.Generator().manual_seed(0)
    context_id = IMG_CONTEXT % config.llm.vocab_size
    settings = GreedySettings(
        max_new_tokens=args.new_tokens, eos_id=-1, pad_id=2, img_context_id=context_id, vision_batch=64
    )
    params = sum(p.numel() for p in model.parameters()) / 1e9
    print(f"model: {params:.2f}B parameters, {model.dtype}, {args.device}; {args.tiles} tiles/sample")
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        requests = [request(config, args.tiles, generator) for _ in range(batch_size)]
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        time_batch(model, requests, settings, args.device)  # warm-up
        runs = [time_batch(model, requests, settings, args.device) for _ in range(args.repeats)]
        total = min(r["total_s"] for r in runs)
        vision = min(r["vision_s"] for r in runs)
        peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else float("nan")
        prompt_len = requests[0].input_ids.shape[0]
        print(
            f"batch {batch_size:3d}: {batch_size / total:7.3f} samples/s  total {total:7.2f}s  "
            f"(vision {vision:.2f}s, LM prefill+{args.new_tokens} steps {total - vision:.2f}s)  "
            f"prompt {prompt_len} tokens  peak {peak:.1f} GiB"
        )


if __name__ == "__main__":
    main()
