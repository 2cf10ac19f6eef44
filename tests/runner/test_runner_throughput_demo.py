"""`monkeyeval run --task demo --ckpt demo` records its throughput in scores.json (share.py's meter)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.test_runner_hf import invoke


def test_demo_run_records_its_throughput(tmp_path: Path) -> None:
    code, out = invoke(
        "run", "--task", "demo", "--ckpt", "demo", "--device", "cpu", "--results", str(tmp_path)
    )
    assert code == 0, out
    run_dir = tmp_path / "demo__checkpoint" / "demo"
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert all("throughput" not in row for row in rows)  # timing stays out of the predictions
    scores = json.loads((run_dir / "scores.json").read_text())
    throughput = scores["throughput"]
    assert throughput is not None, scores.get("throughput_note")
    assert throughput["samples"] == scores["n"] == len(rows) == 36
    assert throughput["wall_s"] > 0
    assert throughput["samples_per_s"] == pytest.approx(
        throughput["samples"] / throughput["wall_s"], rel=1e-3
    )
    generated = sum(row["n_new_tokens"] for row in rows if row["n_new_tokens"] is not None)
    assert throughput["generated_tokens"] == generated > 0
    assert throughput["generated_tokens_per_s"] == pytest.approx(generated / throughput["wall_s"], rel=1e-3)
    assert throughput["prefill_tokens"] is None or throughput["prefill_tokens"] > 0
    assert throughput["peak_host_rss_bytes"] > 0 and throughput["peak_device_memory_bytes"] is None
    assert throughput["device"].startswith("cpu") and throughput["device_count"] == 1
    assert (throughput["attempts"], throughput["unmetered_attempts"]) == (1, 0)
    assert scores["throughput_note"] is None
