"""`monkeyeval gate` end to end through typer's CliRunner: exit codes, modes, flips, markdown, baselines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from monkeyeval.cli import gate
from monkeyeval.gate import load_baseline

N = 200
RIGHT = 150  # baseline: q0..q149 right (1.0), q150..q199 wrong (0.0) -> 0.75


def baseline_samples() -> dict[str, tuple[float, str]]:
    return {f"q{i}": (1.0 if i < RIGHT else 0.0, f"ans-q{i}") for i in range(N)}


def changed_samples(right_to_wrong: int = 0, wrong_to_right: int = 0) -> dict[str, tuple[float, str]]:
    """Baseline samples with the first `right_to_wrong` right and `wrong_to_right` wrong ones flipped."""
    samples = baseline_samples()
    for i in range(right_to_wrong):
        samples[f"q{i}"] = (0.0, f"wrong-q{i}")
    for i in range(RIGHT, RIGHT + wrong_to_right):
        samples[f"q{i}"] = (1.0, f"fixed-q{i}")
    return samples


def invoke(args: list[str]):
    """Run the gate command with a wide virtual terminal (rich would otherwise wrap at 80 columns)."""
    app = typer.Typer()
    app.callback()(lambda: None)
    gate.register(app)
    return CliRunner().invoke(app, ["gate", *args], env={"COLUMNS": "400"})


@pytest.fixture
def trees(tmp_path: Path, run_writer: Callable[..., Path]):
    """(base_root, new_root, write): two results trees; `write(root, task, samples, **fields)` adds a run."""
    base_root, new_root = tmp_path / "base", tmp_path / "new"

    def write(root: Path, task: str, samples, **fields) -> Path:
        return run_writer(root, "Monkey", task, samples=samples, groups=["paper"], **fields)

    return base_root, new_root, write


def approve(base_root: Path, tmp_path: Path, *extra: str) -> Path:
    target = tmp_path / "baselines" / "main.json"
    result = invoke([str(base_root), "--write-baseline", str(target), *extra])
    assert result.exit_code == 0, result.output
    return target


def test_no_drift_exits_0(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", baseline_samples())
    baseline = approve(base_root, tmp_path)
    result = invoke([str(new_root), "--baseline", str(baseline)])
    assert result.exit_code == 0, result.output
    assert "no drift" in result.stdout and "PASS" in result.stdout


def test_abs_drop_beyond_tolerance_exits_1_and_lists_flips(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", changed_samples(right_to_wrong=10))  # 0.75 -> 0.70
    baseline = approve(base_root, tmp_path)
    result = invoke([str(new_root), "--baseline", str(baseline)])
    assert result.exit_code == 1, result.output
    assert "DRIFT" in result.stdout and "score dropped by 0.05 > tolerance 0.01" in result.stdout
    assert "right → wrong (10)" in result.stdout
    for i in range(10):
        assert f"ans-q{i}" in result.stdout and f"wrong-q{i}" in result.stdout


def test_improvement_is_not_drift(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", changed_samples(wrong_to_right=20))
    result = invoke([str(new_root), "--baseline", str(approve(base_root, tmp_path))])
    assert result.exit_code == 0, result.output
    assert "wrong → right (20)" in result.stdout


def test_tolerance_from_baseline_entry_wins_over_flag(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", changed_samples(right_to_wrong=10))  # drop 0.05
    loose = approve(base_root, tmp_path, "--tolerance", "0.1")
    assert load_baseline(loose).entries[0].tolerance == pytest.approx(0.1)
    assert invoke([str(new_root), "--baseline", str(loose), "--tolerance", "0.01"]).exit_code == 0


def test_tolerance_flag_applies_when_baseline_has_none(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", changed_samples(right_to_wrong=10))  # drop 0.05
    plain = approve(base_root, tmp_path)
    assert load_baseline(plain).entries[0].tolerance is None
    assert invoke([str(new_root), "--baseline", str(plain), "--tolerance", "0.06"]).exit_code == 0
    assert invoke([str(new_root), "--baseline", str(plain), "--tolerance", "0.04"]).exit_code == 1
    assert invoke([str(new_root), "--baseline", str(plain)]).exit_code == 1  # default 0.01


def test_paired_tiny_noisy_drop_passes_where_abs_fails(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", changed_samples(right_to_wrong=3, wrong_to_right=2))  # net drop 1/200
    baseline = approve(base_root, tmp_path)
    strict = ["--baseline", str(baseline), "--tolerance", "0"]
    assert invoke([str(new_root), *strict]).exit_code == 1  # abs: any drop beyond 0 fails
    paired = invoke([str(new_root), *strict, "--mode", "paired", "--seed", "3"])
    assert paired.exit_code == 0, paired.output  # p ~ 0.5: not significant
    assert "right → wrong (3)" in paired.stdout and "wrong → right (2)" in paired.stdout


def test_paired_real_drop_fails(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", changed_samples(right_to_wrong=30))  # drop 0.15, every change a loss
    baseline = approve(base_root, tmp_path)
    result = invoke([str(new_root), "--baseline", str(baseline), "--mode", "paired", "--resamples", "2000"])
    assert result.exit_code == 1, result.output
    assert "significant drop" in result.stdout


def test_paired_without_per_sample_data_is_a_usage_error(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", baseline_samples())
    (base_root / "Monkey" / "docvqa" / "predictions.jsonl").unlink()
    baseline = approve(base_root, tmp_path)
    assert load_baseline(baseline).entries[0].sample_scores is None
    result = invoke([str(new_root), "--baseline", str(baseline), "--mode", "paired"])
    assert result.exit_code == 2
    assert "paired mode needs per-sample scores" in result.stdout


def test_fingerprint_mismatch_exits_2_unless_allowed(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", baseline_samples(), prompt_sha256="f" * 64, metric_version="2")
    baseline = approve(base_root, tmp_path)
    result = invoke([str(new_root), "--baseline", str(baseline)])
    assert result.exit_code == 2, result.output
    assert "metric_version, prompt_sha256" in result.stdout
    assert "--allow-fingerprint-change" in result.stdout and "--write-baseline" in result.stdout
    assert "baseline 'bbbb" in result.stdout  # both values shown
    allowed = invoke([str(new_root), "--baseline", str(baseline), "--allow-fingerprint-change"])
    assert allowed.exit_code == 0, allowed.output
    assert "compared anyway" in allowed.stdout


def test_missing_task_exits_1(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(base_root, "textvqa", baseline_samples())
    write(new_root, "docvqa", baseline_samples())
    result = invoke([str(new_root), "--baseline", str(approve(base_root, tmp_path))])
    assert result.exit_code == 1
    assert "missing: no valid scores.json" in result.stdout


def test_health_regression_fails_unless_allowed(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", baseline_samples(), n_truncated=4)
    baseline = approve(base_root, tmp_path)
    result = invoke([str(new_root), "--baseline", str(baseline)])
    assert result.exit_code == 1
    assert "n_truncated rose 0 -> 4" in result.stdout
    assert invoke([str(new_root), "--baseline", str(baseline), "--max-new-errors", "4"]).exit_code == 0


def test_write_baseline_round_trip(trees, tmp_path: Path) -> None:
    base_root, _, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(base_root, "ocrbench", {"a": (1.0, "x"), "b": (0.0, "y")}, aggregation="sum", metric="ocrbench")
    path = approve(base_root, tmp_path, "--tolerance", "0.02")
    loaded = load_baseline(path)
    by_task = {entry.task: entry for entry in loaded.entries}
    assert set(by_task) == {"docvqa", "ocrbench"}
    doc = by_task["docvqa"]
    assert doc.score == pytest.approx(0.75) and doc.n == N and doc.tolerance == pytest.approx(0.02)
    assert doc.sample_scores == {sample_id: value for sample_id, (value, _) in baseline_samples().items()}
    assert doc.predictions is not None and doc.predictions["q3"] == "ans-q3"
    assert doc.fingerprint["prompt_sha256"] == "b" * 64 and doc.fingerprint["metric"] == "anls_monkey"
    assert by_task["ocrbench"].aggregation == "sum" and by_task["ocrbench"].score == 1
    assert json.loads(path.read_text())["format"] == "monkeyeval-baseline"
    # the approved tree passes its own baseline
    assert invoke([str(base_root), "--baseline", str(path), "--mode", "paired"]).exit_code == 0


def test_markdown_summary_for_pr_comment(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "docvqa", baseline_samples())
    write(new_root, "docvqa", changed_samples(right_to_wrong=2))
    write(base_root, "textvqa", baseline_samples())
    write(new_root, "textvqa", baseline_samples())
    write(new_root, "extra_task", baseline_samples())
    baseline = approve(base_root, tmp_path)
    md_path = tmp_path / "comment.md"
    result = invoke(
        [str(new_root), "--baseline", str(baseline), "--markdown", str(md_path), "--tolerance", "0"]
    )
    assert result.exit_code == 1
    text = md_path.read_text(encoding="utf-8")
    assert text.startswith("## monkeyeval gate: ❌ drift detected (exit 1)")
    assert "| Monkey | docvqa | anls_monkey | 75.0 | 74.0 | -1.0 | ±0.0 | — | 2/0 | DRIFT |" in text
    assert "### Monkey/docvqa: DRIFT" in text and "right → wrong (2):" in text
    assert "| q0 | 1 | 0 | ans-q0 | wrong-q0 |" in text
    assert "not in baseline (not gated): Monkey/extra_task" in text
    # concise: the passing task is one line after the drifted one, never a table row or a finding
    assert "**Passing (1)**: Monkey/textvqa 75.0" in text
    assert text.index("### Monkey/docvqa: DRIFT") < text.index("**Passing (1)**")
    assert "| Monkey | textvqa |" not in text and "### Monkey/textvqa" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "pass exactly one of --baseline"),
        (["--baseline", "b.json", "--write-baseline", "c.json"], "pass exactly one of --baseline"),
        (["--baseline", "missing.json"], "baseline file not found"),
        (["--baseline", "bad.json"], "invalid JSON"),
        (["--baseline", "other.json"], "not a monkeyeval baseline"),
        (["--baseline", "ok.json", "--mode", "bayes"], "unknown --mode"),
        (["--baseline", "ok.json", "--alpha", "1.5"], "--alpha must be between 0 and 1"),
    ],
)
def test_usage_errors_exit_2(trees, tmp_path: Path, monkeypatch, args: list[str], message: str) -> None:
    base_root, _, write = trees
    write(base_root, "docvqa", baseline_samples())
    approve(base_root, tmp_path).rename(tmp_path / "ok.json")
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "other.json").write_text('{"entries": []}')
    monkeypatch.chdir(tmp_path)
    result = invoke([str(base_root), *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_missing_results_folder_exits_2(tmp_path: Path) -> None:
    result = invoke([str(tmp_path / "nope"), "--write-baseline", str(tmp_path / "b.json")])
    assert result.exit_code == 2
    assert "results folder not found" in result.stderr


def test_rich_output_shows_markup_like_ids_and_predictions_literally(trees, tmp_path: Path) -> None:
    base_root, new_root, write = trees
    write(base_root, "vqa[val]", {"[red]x": (1.0, "[b]old"), "y": (0.0, "n")})
    write(new_root, "vqa[val]", {"[red]x": (0.0, "[/b] gone"), "y": (0.0, "n")})
    result = invoke([str(new_root), "--baseline", str(approve(base_root, tmp_path))])
    assert result.exit_code == 1, result.output
    assert "Monkey/vqa[val]: right → wrong (1)" in result.stdout
    assert "[red]x" in result.stdout and "[b]old" in result.stdout and "[/b] gone" in result.stdout


def test_usage_error_is_also_written_to_the_markdown_file(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    md_path = tmp_path / "comment.md"
    result = invoke(
        [str(tmp_path / "results"), "--baseline", str(tmp_path / "absent.json"), "--markdown", str(md_path)]
    )
    assert result.exit_code == 2
    text = md_path.read_text(encoding="utf-8")
    assert text.startswith("## monkeyeval gate: ⛔ cannot compare (exit 2)")
    assert "baseline file not found" in text
