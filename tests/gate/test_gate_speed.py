"""`monkeyeval gate --max-slowdown`: samples/s against the baseline's, compared only on the same device and
settings, skipped with a reason otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from monkeyeval.cli import gate
from monkeyeval.cli.app import build_app
from monkeyeval.gate import load_baseline

REPO = Path(__file__).resolve().parents[2]
SAMPLES = {f"q{i}": (1.0 if i % 4 else 0.0, f"ans-q{i}") for i in range(40)}
H100 = "NVIDIA H100 80GB HBM3"


def invoke(args: list[str]):
    app = typer.Typer()
    app.callback()(lambda: None)
    gate.register(app)
    return CliRunner().invoke(app, ["gate", *args], env={"COLUMNS": "400"})


@pytest.fixture
def timed_run(run_writer: Callable[..., Path]) -> Callable[..., Path]:
    """`timed_run(root, samples_per_s, device=H100, device_count=8, batch_size=8)` writes a run whose
    scores.json has a throughput and the speed settings in its model fingerprint (samples_per_s None:
    untimed)."""

    def write(
        root: Path,
        samples_per_s: float | None,
        device: str = H100,
        device_count: int = 8,
        batch_size: int = 8,
    ) -> Path:
        run_dir = run_writer(root, "Monkey", "docvqa", samples=SAMPLES)
        path = run_dir / "scores.json"
        payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        payload["fingerprint"]["model"] |= {"batch_size": batch_size, "world_size": 8, "max_new_tokens": 64}
        if samples_per_s is not None:
            payload["throughput"] = {
                "samples": 40,
                "wall_s": round(40 / samples_per_s, 3),
                "samples_per_s": samples_per_s,
                "generated_tokens": 400,
                "generated_tokens_per_s": samples_per_s * 10,
                "prefill_tokens": None,
                "peak_device_memory_bytes": 2**34,
                "peak_host_rss_bytes": 2**32,
                "device": device,
                "device_count": device_count,
                "attempts": 1,
            }
        else:
            payload["throughput_note"] = "not timed: scored from a predictions file"
        path.write_text(json.dumps(payload), encoding="utf-8")
        return run_dir

    return write


@pytest.fixture
def baseline(tmp_path: Path, timed_run: Callable[..., Path]) -> Path:
    """A baseline approved from a run at 10 samples/s on 8 H100s with batch size 8."""
    timed_run(tmp_path / "base", 10.0)
    target = tmp_path / "baseline.json"
    result = invoke([str(tmp_path / "base"), "--write-baseline", str(target)])
    assert result.exit_code == 0, result.output
    return target


def check(new_root: Path, baseline: Path, *extra: str):
    return invoke([str(new_root), "--baseline", str(baseline), "--max-slowdown", "0.2", *extra])


def test_the_baseline_stores_throughput_device_and_settings(baseline: Path) -> None:
    speed = load_baseline(baseline).entries[0].throughput
    assert speed is not None
    assert (speed.samples_per_s, speed.generated_tokens_per_s, speed.device, speed.device_count) == (
        10.0,
        100.0,
        H100,
        8,
    )
    assert speed.settings == {
        "family": "monkey",
        "family_options": None,
        "dtype": "bfloat16",
        "batch_size": 8,
        "world_size": 8,
        "max_new_tokens": 64,
    }


def test_a_30_percent_slowdown_fails_at_max_slowdown_0_2(
    tmp_path: Path, baseline: Path, timed_run: Callable[..., Path]
) -> None:
    timed_run(tmp_path / "new", 7.0)
    result = check(tmp_path / "new", baseline, "--markdown", str(tmp_path / "gate.md"))
    assert result.exit_code == 1, result.output
    assert "DRIFT speed: samples/s fell 30.0% (10 -> 7; allowed slowdown 20%" in result.stdout
    assert "max slowdown=0.2 (samples/s)" in result.stdout
    assert "speed: samples/s fell 30.0%" in (tmp_path / "gate.md").read_text(encoding="utf-8")


def test_a_10_percent_slowdown_passes_and_is_shown(
    tmp_path: Path, baseline: Path, timed_run: Callable[..., Path]
) -> None:
    timed_run(tmp_path / "new", 9.0)
    result = check(tmp_path / "new", baseline, "--markdown", str(tmp_path / "gate.md"))
    assert result.exit_code == 0, result.output
    assert "note: speed: samples/s fell 10.0% (10 -> 9" in result.stdout
    markdown = (tmp_path / "gate.md").read_text(encoding="utf-8")
    assert "### Speed" in markdown and "Monkey/docvqa: speed: samples/s fell 10.0%" in markdown


def test_speed_is_not_gated_without_the_option(
    tmp_path: Path, baseline: Path, timed_run: Callable[..., Path]
) -> None:
    timed_run(tmp_path / "new", 5.0)
    result = invoke([str(tmp_path / "new"), "--baseline", str(baseline)])
    assert result.exit_code == 0, result.output
    assert "speed" not in result.stdout


@pytest.mark.parametrize(
    ("new_run", "reason"),
    [
        (
            {"device": "NVIDIA A100-SXM4-40GB"},
            f"device differs (baseline {H100} ×8, new NVIDIA A100-SXM4-40GB ×8)",
        ),
        ({"device_count": 4}, f"device differs (baseline {H100} ×8, new {H100} ×4)"),
        ({"batch_size": 16}, "settings differ (batch_size 8 -> 16)"),
        (
            {"samples_per_s": None},
            "the new run has no throughput (not timed: scored from a predictions file)",
        ),
    ],
)
def test_a_different_device_or_setting_skips_with_the_reason(
    tmp_path: Path, baseline: Path, timed_run: Callable[..., Path], new_run: dict[str, Any], reason: str
) -> None:
    timed_run(tmp_path / "new", **({"samples_per_s": 5.0} | new_run))  # half the speed: would fail
    result = check(tmp_path / "new", baseline)
    assert result.exit_code == 0, result.output
    assert f"note: speed check skipped: {reason}" in result.stdout


def test_a_baseline_without_throughput_skips(
    tmp_path: Path, baseline: Path, timed_run: Callable[..., Path]
) -> None:
    old = json.loads(baseline.read_text(encoding="utf-8"))
    del old["entries"][0]["throughput"]  # a baseline written before throughput was stored
    baseline.write_text(json.dumps(old), encoding="utf-8")
    timed_run(tmp_path / "new", 5.0)
    result = check(tmp_path / "new", baseline)
    assert result.exit_code == 0, result.output
    assert "speed check skipped: the baseline entry has no throughput" in result.stdout


@pytest.mark.parametrize("extra", [["--max-slowdown", "1.5"], ["--max-slowdown", "-0.1"]])
def test_bad_max_slowdown_is_a_usage_error(tmp_path: Path, baseline: Path, extra: list[str]) -> None:
    result = invoke([str(tmp_path / "base"), "--baseline", str(baseline), *extra])
    assert result.exit_code == 2 and "--max-slowdown" in result.output


def test_max_slowdown_with_write_baseline_is_a_usage_error(tmp_path: Path, baseline: Path) -> None:
    result = invoke(
        [str(tmp_path / "base"), "--write-baseline", str(tmp_path / "b2.json"), "--max-slowdown", "0.2"]
    )
    assert result.exit_code == 2 and "--max-slowdown applies to a check" in result.output


def test_the_demo_ci_gate_still_passes_with_max_slowdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scripts/gate_demo.sh's chain: `score` writes an untimed run, the committed baseline has no speed."""
    monkeypatch.delenv("MONKEYEVAL_TASKS_PATH", raising=False)
    monkeypatch.delenv("MONKEYEVAL_DATA", raising=False)
    predictions = REPO / "results" / "baselines" / "demo_handmade_predictions.jsonl"
    score = [
        "score",
        "--task",
        "demo",
        str(predictions),
        "--model-name",
        "handmade",
        "--results",
        str(tmp_path),
    ]
    assert CliRunner().invoke(build_app(), score, catch_exceptions=False).exit_code == 0
    result = check(tmp_path, REPO / "results" / "baselines" / "demo.json", "--mode", "paired")
    assert result.exit_code == 0, result.output
    assert "speed check skipped: the baseline entry has no throughput" in result.stdout
