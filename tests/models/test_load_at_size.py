"""Loading a mid-size native checkpoint holds the weights plus about one shard in host memory, not more.

A Mini-Monkey of ~0.34 GiB of bf16 weights (the real vocabulary, narrow layers) is written by
bench/bench_load.py as five shards and loaded through `MiniMonkeyAdapter.load` in a fresh subprocess on
the CPU, where the device is the host. The peak RSS growth over the pre-load baseline must stay within
weights * 1.05 + largest shard + a fixed 128 MiB (imports done lazily on first use, allocator slack). The
previous path (a whole host copy of the state dict on top of the model) grows by ~2x the weights and fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "bench" / "bench_load.py"
MIB = 2**20
FIXED_OVERHEAD = 128 * MIB


def mid_size_config(parity_dir: Path) -> dict[str, Any]:
    """The fixture Mini-Monkey config widened to ~180M parameters (its tokenizer fits the real vocabulary)."""
    config: dict[str, Any] = json.loads(
        (parity_dir / "minimonkey" / "checkpoint" / "config.json").read_text()
    )
    config["vision_config"].update(hidden_size=256, intermediate_size=1024, num_hidden_layers=4)
    config["llm_config"].update(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        vocab_size=92553,
    )
    return config


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_peak_host_memory_is_weights_plus_one_shard(parity_dir: Path, tmp_path: Path, fmt: str) -> None:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(mid_size_config(parity_dir)), encoding="utf-8")
    command = [sys.executable, str(BENCH), "--config", str(config_path), "--ckpt", str(tmp_path / "ckpt")]
    command += ["--format", fmt, "--device", "cpu", "--dtype", "bf16", "--shard-gb", "0.064", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    weights, shard, growth = result["weights_bytes"], result["largest_shard_bytes"], result["rss_growth"]
    assert result["weight_dtypes"] == ["torch.bfloat16"] and result["meta_left"] == []
    assert result["n_shards"] >= 4 and 300 * MIB < weights < 400 * MIB and shard < weights / 2
    ratio = (growth - FIXED_OVERHEAD) / (weights + shard)
    assert growth <= 1.05 * weights + shard + FIXED_OVERHEAD, (
        f"peak RSS grew {growth / MIB:.0f} MiB for {weights / MIB:.0f} MiB of weights and a "
        f"{shard / MIB:.0f} MiB largest shard (ratio {ratio:.2f} after the fixed {FIXED_OVERHEAD // MIB} MiB)"
    )
