"""Throughput of the native Mini-Monkey (InternViT + pixel shuffle + mlp1 + InternLM2) with random weights.

Builds the model from the real Mini-Monkey / InternVL2-2B config (in real_models.py; no download) or from a
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
from pathlib import Path

import torch
from real_models import IMG_CONTEXT, random_minimonkey, request
from real_models import REAL_MINIMONKEY_CONFIG as REAL_CONFIG
from real_models import time_minimonkey_batch as time_batch

from monkeyeval.models.minimonkey.generate import GreedySettings
from monkeyeval.models.minimonkey.model import MiniMonkeyConfig


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
    model = random_minimonkey(config, args.device, args.dtype)
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
