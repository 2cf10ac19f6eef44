"""Throughput of the native Monkey (vision tower + QWen LM + greedy decoding) with random weights.

Builds the model from the real Monkey config (in real_models.py; no download) or from a checkpoint folder's
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

import torch
from real_models import REAL_MONKEY_CONFIG, prompt_ids, random_monkey, time_batch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


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
    model = random_monkey(config, device, dtype)
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
