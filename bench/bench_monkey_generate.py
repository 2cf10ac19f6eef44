"""Throughput of the native Monkey (vision tower + QWen LM + greedy decoding) with random weights.

Builds the model from the real Monkey config (embedded below; no download) or from a checkpoint folder's
config.json, fills it with random weights, and times `encode_images` + `greedy_generate` on a ~1300-token
Monkey prompt (one 1280-slot image span + a question) for several batch sizes, forcing exactly
`--new-tokens` new tokens. Prints samples/s, the vision/LM split and peak GPU memory.

    python bench/bench_monkey_generate.py --device cuda --dtype bf16 --batch-sizes 1,4,16
    python bench/bench_monkey_generate.py --config tests/fixtures/parity/monkey/checkpoint --device cpu
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from monkeyeval.models.monkey.adapter import MonkeyAdapter
from monkeyeval.models.monkey.generate import greedy_generate
from monkeyeval.models.monkey.model import MonkeyForCausalLM

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
    "visual": {
        "heads": 16,
        "image_size": 896,
        "image_start_id": 151857,
        "layers": 48,
        "mlp_ratio": 4.9231,
        "output_dim": 4096,
        "patch_size": 14,
        "width": 1664,
        "lora_repeat_num": 4,
    },
}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def random_model(config: dict[str, Any], device: torch.device, dtype: torch.dtype) -> MonkeyForCausalLM:
    """The full model with N(0, 0.02) weights (norm scales 1)."""
    model = MonkeyAdapter.build_model(config, device, dtype)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 1 and ("ln" in name or "norm" in name):
                param.fill_(1.0)
            else:
                param.normal_(0.0, 0.02, generator=generator)
    return model


def prompt_ids(config: dict[str, Any], prompt_tokens: int, span: int = 1280) -> list[int]:
    """`<img>` + path bytes + `<imgpad>`… + `</img>` + question tokens, `prompt_tokens` long in all."""
    start = int(config["visual"]["image_start_id"])
    path = list(b"data/docvqa/images/ffbf0023_4.png")
    span_ids = [start, *path, *([start + 2] * (span - len(path))), start + 1]
    question = [(17 * i + 11) % 5000 + 300 for i in range(max(prompt_tokens - len(span_ids), 1))]
    return span_ids + question


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_batch(
    model: MonkeyForCausalLM, ids: list[int], batch: int, new_tokens: int, device: torch.device
) -> tuple[float, float]:
    """(vision seconds, LM seconds) for one batch."""
    input_ids = torch.tensor([ids] * batch, device=device)
    mask = torch.ones_like(input_ids)
    size = int(model.config["visual"].get("image_size", 896))
    pixels = torch.randn(batch, 3, size, size, device=device)
    sync(device)
    begin = time.perf_counter()
    with torch.inference_mode():
        embeds = model.encode_images(pixels)
    sync(device)
    middle = time.perf_counter()
    output = greedy_generate(
        model, input_ids, mask, embeds, eod_id=int(model.config["visual"]["image_start_id"]) - 214,
        max_new_tokens=new_tokens, min_new_tokens=new_tokens,
    )  # fmt: skip
    sync(device)
    end = time.perf_counter()
    assert all(n == new_tokens for n in output.n_new_tokens)
    return middle - begin, end - middle


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", type=Path, help="checkpoint folder whose config.json to use (default: real)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--dtype", choices=sorted(DTYPES), default=None, help="default: bf16 on GPU, fp32 on CPU"
    )
    parser.add_argument("--batch-sizes", default="1,4,16")
    parser.add_argument("--prompt-tokens", type=int, default=1300)
    parser.add_argument("--new-tokens", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    device = torch.device(args.device)
    dtype = DTYPES[args.dtype or ("bf16" if device.type == "cuda" else "fp32")]
    config = json.loads((args.config / "config.json").read_text()) if args.config else REAL_MONKEY_CONFIG
    begin = time.perf_counter()
    model = random_model(config, device, dtype)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"model: {n_params / 1e9:.2f}B parameters, {dtype}, {device}, "
        f"built in {time.perf_counter() - begin:.1f}s"
    )
    ids = prompt_ids(config, args.prompt_tokens)
    print(f"prompt: {len(ids)} tokens, {args.new_tokens} new tokens (forced), {args.repeats} timed repeats")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        time_batch(model, ids, batch, args.new_tokens, device)  # warm-up
        runs = [time_batch(model, ids, batch, args.new_tokens, device) for _ in range(args.repeats)]
        vision = min(r[0] for r in runs)
        lm = min(r[1] for r in runs)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        print(
            f"batch {batch:3d}: {batch / (vision + lm):7.2f} samples/s  (vision {vision * 1e3:8.1f} ms, "
            f"LM prefill+decode {lm * 1e3:8.1f} ms per batch)  peak GPU memory {peak:6.1f} GiB"
        )


if __name__ == "__main__":
    main()
