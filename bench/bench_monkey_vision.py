"""Throughput of the native Monkey / TextMonkey vision towers at full size (random weights, no download).

Prints images/s per batch size and the peak GPU memory. Example (GPU, bf16, the published sizes):

    python bench/bench_monkey_vision.py --device cuda --dtype bfloat16 --batch-sizes 1 4 16

On CPU use a shallow tower for a smoke run: `--device cpu --dtype float32 --layers 2 --batch-sizes 1`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from monkeyeval.models.monkey.textmonkey_vision import TextMonkeyVisual
from monkeyeval.models.monkey.vision import MonkeyVisual

MONKEY_VISUAL: dict[str, Any] = {
    "heads": 16,
    "image_size": 896,
    "layers": 48,
    "mlp_ratio": 4.9231,
    "output_dim": 4096,
    "patch_size": 14,
    "width": 1664,
    "lora_repeat_num": 4,
}
TEXTMONKEY_VISUAL: dict[str, Any] = {
    **MONKEY_VISUAL,
    "image_size": [896, 896],
    "lora_repeat_num": 0,
    "add_window": True,
    "use_global": True,
    "resampler": True,
    "r": 512,
    "n_queries": 768,
}


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(
    family: str, device: torch.device, dtype: torch.dtype, layers: int, batch_sizes: list[int], repeats: int
) -> None:
    visual_config = dict(TEXTMONKEY_VISUAL if family == "textmonkey" else MONKEY_VISUAL, layers=layers)
    with torch.device(device):
        visual = (TextMonkeyVisual if family == "textmonkey" else MonkeyVisual).from_visual_config(
            visual_config
        )
    visual = visual.to(dtype).eval()
    n_params = sum(p.numel() for p in visual.parameters())
    print(f"{family}: {n_params / 1e9:.3f}B parameters, {layers} layers, {dtype}, {device}")
    for batch in batch_sizes:
        pixels = torch.randn(batch, 3, 896, 896, dtype=torch.float32, device=device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode():
            visual(pixels)  # warm-up
            _synchronise(device)
            start = time.perf_counter()
            for _ in range(repeats):
                out = visual(pixels)
            _synchronise(device)
            elapsed = (time.perf_counter() - start) / repeats
        peak = (
            f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"
            if device.type == "cuda"
            else ""
        )
        print(
            f"  batch {batch:3d}: {batch / elapsed:8.2f} images/s ({elapsed * 1000:.0f} ms/batch), "
            f"out {tuple(out.shape)}{peak}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--family", choices=["monkey", "textmonkey", "both"], default="both")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--layers", type=int, default=48, help="ViT depth (48 = the published model)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    families = ["monkey", "textmonkey"] if args.family == "both" else [args.family]
    for family in families:
        bench(
            family,
            torch.device(args.device),
            getattr(torch, args.dtype),
            args.layers,
            args.batch_sizes,
            args.repeats,
        )


if __name__ == "__main__":
    main()
