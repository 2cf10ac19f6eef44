"""The Runs table shows each run's device, samples/s, tokens/s, wall time and peak memory ("—" untimed)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from monkeyeval.report import Leaderboard, build_leaderboard, render
from monkeyeval.report.html import render_html
from monkeyeval.results.tree import load_results

GPU_RUN = {
    "samples": 200,
    "wall_s": 125.0,
    "samples_per_s": 1.6,
    "generated_tokens": 5000,
    "generated_tokens_per_s": 40.0,
    "prefill_tokens": 300000,
    "peak_device_memory_bytes": 15 * 2**30 + 2**29,  # 15.5 GiB
    "peak_host_rss_bytes": 3 * 2**30,
    "device": "NVIDIA H100 80GB HBM3",
    "device_count": 8,
    "attempts": 1,
    "unmetered_attempts": 0,
}
CPU_RUN = GPU_RUN | {
    "wall_s": 42.25,
    "samples_per_s": 123.4,
    "generated_tokens_per_s": 2500.0,
    "peak_device_memory_bytes": None,
    "peak_host_rss_bytes": 700 * 2**20,
    "device": "cpu (Test CPU)",
    "device_count": 1,
}


@pytest.fixture
def board(results_root: Path, make_run) -> Leaderboard:
    make_run("A", "docvqa", 0.6, n=200, throughput=GPU_RUN)
    make_run("B", "docvqa", 0.5, n=200, throughput=CPU_RUN)
    make_run("C", "docvqa", 0.4, n=200)  # an older scores.json: no throughput key at all
    return build_leaderboard(load_results(results_root))


def runs_rows(text: str) -> dict[str, dict[str, str]]:
    """model -> {header: cell} of the markdown Runs table."""
    section = text.split("## Runs", 1)[1].split("## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    headers = cells[0]
    return {row[0]: dict(zip(headers, row, strict=True)) for row in cells[2:]}


def test_markdown_runs_table_shows_the_figures(board: Leaderboard) -> None:
    rows = runs_rows(render(board, "md"))
    gpu, cpu, old = rows["A"], rows["B"], rows["C"]
    assert (gpu["device"], gpu["samples/s"], gpu["tokens/s"]) == ("NVIDIA H100 80GB HBM3 ×8", "1.60", "40.0")
    assert gpu["wall"] == "2 min 05 s" and gpu["peak memory"] == "15.5 GiB device, 3.0 GiB host"
    assert (cpu["device"], cpu["samples/s"], cpu["tokens/s"]) == ("cpu (Test CPU)", "123", "2500")
    assert cpu["wall"] == "42.2 s" and cpu["peak memory"] == "700 MiB host"
    throughput_headers = ("device", "samples/s", "tokens/s", "wall", "peak memory")
    assert [old[key] for key in throughput_headers] == ["—"] * 5
    assert gpu["batch_size"] == "" and gpu["dtype"] == "bfloat16"  # the fingerprint columns are still there


def test_rich_html_csv_and_json_carry_it(board: Leaderboard) -> None:
    assert "2 min 05 s" in render(board, "rich", width=400)
    html = render_html(board)
    runs = html.split('class="runs"', 1)[1]
    assert "NVIDIA H100 80GB HBM3 ×8" in runs and "15.5 GiB device, 3.0 GiB host" in runs
    frame = pd.read_csv(io.StringIO(render(board, "csv"))).set_index("model")
    assert frame.loc["A", "samples_per_s"] == 1.6 and frame.loc["B", "wall_s"] == 42.25
    assert pd.isna(frame.loc["C", "samples_per_s"])
    again = Leaderboard.from_dict(board.to_dict())
    assert again.task_row("A", "docvqa")["throughput"] == GPU_RUN  # type: ignore[index]
    assert again.task_row("C", "docvqa")["throughput"] is None  # type: ignore[index]


def test_a_leaderboard_json_from_before_throughput_still_loads(board: Leaderboard) -> None:
    payload: dict[str, Any] = board.to_dict()
    for row in payload["tasks"]:
        del row["throughput"]
    rows = runs_rows(render(Leaderboard.from_dict(payload), "md"))
    assert rows["A"]["samples/s"] == "—"
