"""Peak memory of loading a FULL-SIZE native checkpoint through the real adapter path (random weights).

Writes a random-weight checkpoint of the real config (Mini-Monkey / InternVL2-2B by default, the 9.7B
Monkey with `--model monkey`, or any config with `--config`) as sharded safetensors (or `.bin` shards) with
its index json and the tokenizer files of the parity fixture, then loads it in a fresh subprocess with
`MiniMonkeyAdapter.load` / `MonkeyAdapter.load` and prints load time, peak RSS and its growth over the
pre-load baseline, the weights' bytes, the largest shard and (on a GPU) the peak CUDA memory, each against
its target:

- GPU: peak CUDA memory <= weights * 1.05; peak RSS growth <= largest shard + 1 GiB;
- CPU (the device is the host): peak RSS growth <= weights * 1.05 + largest shard + 1 GiB.

`--old` also loads through the previous path (meta -> to_empty in float32 -> .to(dtype) -> whole state
dict in host memory -> load_strict) for comparison.

    python bench/bench_load.py --device cpu --dtype bf16 --old
    python bench/bench_load.py --model monkey --device cuda --dtype bf16 --ckpt /data/monkey-random --keep
    python bench/bench_load.py --model monkey --config tests/fixtures/parity/monkey/checkpoint --device cpu
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_minimonkey_generate import REAL_CONFIG
from bench_monkey_generate import REAL_MONKEY_CONFIG

from monkeyeval.core.atomic import atomic_write_json
from monkeyeval.models.dtypes import named_dtype

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "parity"
REAL_CONFIGS = {"minimonkey": REAL_CONFIG, "monkey": REAL_MONKEY_CONFIG}
GIB = 2**30
RESULT_PREFIX = "RESULT "


def read_config(path: Path | None, family: str) -> dict[str, Any]:
    """`path` (a config.json or a folder holding one), else the family's real config."""
    if path is None:
        return dict(REAL_CONFIGS[family])
    file = path / "config.json" if path.is_dir() else path
    config: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return config


def meta_model(family: str, config: dict[str, Any], dtype: torch.dtype) -> torch.nn.Module:
    """The family's full model on the meta device in `dtype` (names and shapes only)."""
    if family == "monkey":
        from monkeyeval.models.monkey.adapter import MonkeyAdapter

        return MonkeyAdapter.build_model(config, torch.device("meta"), dtype)
    from monkeyeval.models.minimonkey.model import MiniMonkeyConfig, MiniMonkeyForCausalLM

    with torch.device("meta"):
        return MiniMonkeyForCausalLM(MiniMonkeyConfig.from_dict(config)).to(dtype)


def plan_shards(shapes: dict[str, torch.Tensor], shard_bytes: int) -> list[list[str]]:
    """Tensor names in checkpoint order, grouped into shards of about `shard_bytes` (tensors never split)."""
    shards: list[list[str]] = [[]]
    size = 0
    for name, tensor in shapes.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    return shards


def write_checkpoint(
    family: str, config: dict[str, Any], folder: Path, fmt: str, dtype: torch.dtype, shard_bytes: int
) -> None:
    """A random-weight N(0, 0.02) checkpoint in `folder`, one shard in memory at a time, plus side files."""
    folder.mkdir(parents=True, exist_ok=True)
    for side in (FIXTURES / family / "checkpoint").iterdir():
        if side.name != "config.json" and not side.name.endswith(".xz"):
            shutil.copy(side, folder / side.name)
    atomic_write_json(folder / "config.json", config)
    targets = meta_model(family, config, dtype).state_dict()
    shards = plan_shards(targets, shard_bytes)
    stem, suffix = ("model", "safetensors") if fmt == "safetensors" else ("pytorch_model", "bin")
    generator = torch.Generator().manual_seed(0)
    weight_map: dict[str, str] = {}
    for number, names in enumerate(shards, start=1):
        shard_name = f"{stem}-{number:05d}-of-{len(shards):05d}.{suffix}"
        tensors = {
            name: torch.empty(targets[name].shape, dtype=targets[name].dtype).normal_(
                0, 0.02, generator=generator
            )
            for name in names
        }
        if fmt == "safetensors":
            from safetensors.torch import save_file

            save_file(tensors, str(folder / shard_name), metadata={"format": "pt"})
        else:
            torch.save(tensors, folder / shard_name)
        weight_map.update(dict.fromkeys(names, shard_name))
        del tensors
    total = sum(t.numel() * t.element_size() for t in targets.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    atomic_write_json(folder / f"{stem}.{suffix}.index.json", index)


def _peak_rss() -> int:
    """The process's peak resident set size in bytes (ru_maxrss; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _current_rss() -> int:
    """The process's resident set size now (VmRSS), in bytes; the peak so far where /proc is absent."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return _peak_rss()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def _old_load(family: str, folder: Path, device: str, dtype: torch.dtype) -> torch.nn.Module:
    """The previous path: meta -> to_empty (float32) -> .to(dtype) -> read_state_dict -> load_strict."""
    from monkeyeval.models.weights import load_strict, read_state_dict

    config = read_config(folder, family)
    model = meta_model(family, config, torch.float32).to_empty(device=device).to(dtype)
    load_strict(model, read_state_dict(folder), source=str(folder))
    return model


def measure(family: str, folder: Path, device: str, dtype_name: str, old: bool) -> dict[str, Any]:
    """Load `folder` in this process (call in a fresh one) and return the figures."""
    from monkeyeval.models.base import LoadOptions
    from monkeyeval.models.minimonkey.adapter import MiniMonkeyAdapter
    from monkeyeval.models.monkey.adapter import MonkeyAdapter
    from monkeyeval.models.weights import meta_tensors, weight_files

    adapter = MonkeyAdapter if family == "monkey" else MiniMonkeyAdapter
    dtype = named_dtype(dtype_name)
    assert dtype is not None, dtype_name
    on_gpu = torch.device(device).type == "cuda"
    if on_gpu:
        torch.zeros(1, device=device)  # the CUDA context belongs to the baseline, not to the load
        torch.cuda.reset_peak_memory_stats()
    baseline = _current_rss()  # resident now: the peak so far also holds whatever the imports freed
    begin = time.perf_counter()
    if old:
        model = _old_load(family, folder, device, dtype)
    else:
        model = adapter.load(LoadOptions(checkpoint=str(folder), device=device, dtype=dtype_name)).model
    if on_gpu:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - begin
    peak = _peak_rss()
    unique = {id(t): t for t in [*model.parameters(), *model.buffers()]}.values()
    return {
        "path": "old" if old else "new",
        "loader": f"{adapter.__name__}.load" if not old else "to_empty+read_state_dict+load_strict",
        "device": device,
        "dtype": dtype_name,
        "load_s": seconds,
        "baseline_rss": baseline,
        "peak_rss": peak,
        "rss_growth": peak - baseline,
        "weights_bytes": sum(t.numel() * t.element_size() for t in unique),
        "weight_dtypes": sorted({str(t.dtype) for t in unique}),
        "largest_shard_bytes": max(path.stat().st_size for path in weight_files(folder)),
        "n_shards": len(weight_files(folder)),
        "cuda_peak": torch.cuda.max_memory_allocated() if on_gpu else None,
        "meta_left": meta_tensors(model),
    }


def measure_in_child(family: str, folder: Path, device: str, dtype: str, old: bool = False) -> dict[str, Any]:
    """`measure` in a fresh interpreter (so the baseline and peak RSS are those of the load alone)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--model", family]
    command += ["--ckpt", str(folder), "--device", device, "--dtype", dtype] + (["--old"] if old else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the load subprocess failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return result


def verdict(value: float, limit: float) -> str:
    return f"{'PASS' if value <= limit else 'FAIL'} ({value / GIB:.3f} GiB <= {limit / GIB:.3f} GiB)"


def report(result: dict[str, Any]) -> None:
    """Print one load's figures against the targets."""
    weights, shard, growth = result["weights_bytes"], result["largest_shard_bytes"], result["rss_growth"]
    tag = f"[{result['path']}]"
    print(
        f"[{result['path']}] {result['loader']} on {result['device']} in {result['dtype']}: "
        f"load {result['load_s']:.1f} s; weights {weights / GIB:.3f} GiB {result['weight_dtypes']}; "
        f"{result['n_shards']} shards, largest {shard / GIB:.3f} GiB"
    )
    print(
        f"[{result['path']}] peak RSS {result['peak_rss'] / GIB:.3f} GiB, growth over the pre-load "
        f"baseline ({result['baseline_rss'] / GIB:.3f} GiB) {growth / GIB:.3f} GiB"
    )
    if result["cuda_peak"] is None:
        limit = weights * 1.05 + shard + GIB
        print(f"{tag} CPU: the device is the host, so the target is peak RSS growth <= weights*1.05")
        print(f"{tag}   + largest shard + 1 GiB: {verdict(growth, limit)}")
    else:
        print(f"{tag} peak CUDA memory <= weights*1.05: {verdict(result['cuda_peak'], weights * 1.05)}")
        print(f"{tag} peak RSS growth <= largest shard + 1 GiB: {verdict(growth, shard + GIB)}")
    if result["meta_left"]:
        print(f"[{result['path']}] FAIL: tensors left on the meta device: {result['meta_left'][:8]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=sorted(REAL_CONFIGS), default="minimonkey")
    parser.add_argument("--config", type=Path, help="config.json (or its folder) instead of the real config")
    parser.add_argument("--format", choices=("safetensors", "bin"), default="safetensors")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default="bf16")
    parser.add_argument("--shard-gb", type=float, default=2.0, help="shard size in GB (10^9 bytes)")
    parser.add_argument(
        "--ckpt", type=Path, help="checkpoint folder: reused when it has weights, else written"
    )
    parser.add_argument("--keep", action="store_true", help="keep the written checkpoint folder")
    parser.add_argument("--old", action="store_true", help="also load through the previous path")
    parser.add_argument("--json", action="store_true", help="also print each result as one JSON line")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(RESULT_PREFIX + json.dumps(measure(args.model, args.ckpt, args.device, args.dtype, args.old)))
        return
    folder = args.ckpt or Path(tempfile.mkdtemp(prefix=f"bench-load-{args.model}-"))
    try:
        if any(folder.glob("*.index.json")):
            print(f"checkpoint: reusing {folder}")
        else:
            dtype = named_dtype(args.dtype)
            assert dtype is not None
            begin = time.perf_counter()
            config = read_config(args.config, args.model)
            write_checkpoint(args.model, config, folder, args.format, dtype, int(args.shard_gb * 1e9))
            seconds = time.perf_counter() - begin
            print(f"checkpoint: wrote {folder} ({args.format}, {args.dtype}) in {seconds:.1f} s")
        for old in (False, True) if args.old else (False,):
            result = measure_in_child(args.model, folder, args.device, args.dtype, old)
            report(result)
            if args.json:
                print(RESULT_PREFIX + json.dumps(result))
    finally:
        if not (args.keep or args.ckpt):
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
