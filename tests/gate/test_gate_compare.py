"""Gate decision rules as a library: normalisation, corpus metrics, exit-code precedence, baseline files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monkeyeval.gate import BaselineError, GateOptions, load_baseline, run_gate
from monkeyeval.gate.baseline import Baseline, BaselineEntry, baseline_from_tree, write_baseline
from monkeyeval.gate.compare import GateResult, TaskVerdict, check_entry
from monkeyeval.results.tree import load_results

FINGERPRINT = {
    "jsonl_sha256": "a" * 64,
    "metric": "ocrbench",
    "metric_version": "1",
    "prompt_sha256": "b" * 64,
}


def entry(**overrides: Any) -> BaselineEntry:
    fields: dict[str, Any] = dict(
        model="M",
        task="ocrbench",
        metric="ocrbench",
        metric_version="1",
        aggregation="sum",
        score=800.0,
        n=1000,
        n_errors=0,
        n_empty=0,
        n_truncated=0,
        n_missing=0,
        fingerprint=dict(FINGERPRINT),
    )
    fields.update(overrides)
    return BaselineEntry(**fields)


@pytest.mark.parametrize(
    ("new_score", "outcome"), [(795, "pass"), (790, "pass"), (789, "fail"), (850, "pass")]
)
def test_sum_metric_tolerance_is_a_fraction_of_n(results_root: Path, make_run, new_score: int, outcome: str):
    make_run("M", "ocrbench", new_score, n=1000, aggregation="sum", metric="ocrbench")
    run = load_results(results_root).get("M", "ocrbench")
    verdict = check_entry(entry(), run, GateOptions(tolerance=0.01))  # 0.01 of 1000 samples = 10 hits
    assert verdict.outcome == outcome
    assert verdict.drop == pytest.approx((800 - new_score) / 1000)


def test_corpus_metric_in_paired_mode_uses_the_abs_rule(results_root: Path, make_run) -> None:
    make_run("M", "coco", 1.10, n=50, aggregation="corpus", metric="cider_coco")
    run = load_results(results_root).get("M", "coco")
    fingerprint = dict(FINGERPRINT, metric="cider_coco")
    base = entry(
        task="coco", metric="cider_coco", aggregation="corpus", score=1.20, n=50, fingerprint=fingerprint
    )
    verdict = check_entry(base, run, GateOptions(mode="paired", tolerance=0.05))
    assert verdict.outcome == "fail" and verdict.paired is None
    assert any("abs rule was applied" in note for note in verdict.notes)
    assert not verdict.flips_checked


def test_missing_run_is_drift() -> None:
    verdict = check_entry(entry(), None, GateOptions())
    assert verdict.outcome == "fail" and "missing" in verdict.failures[0]


def test_exit_code_precedence() -> None:
    def verdict(failures=(), errors=()) -> TaskVerdict:
        v = TaskVerdict("M", "t", "m", "mean", 10, 0.01, 0.5)
        v.failures.extend(failures)
        v.usage_errors.extend(errors)
        return v

    assert GateResult(GateOptions(), [verdict(), verdict()]).exit_code == 0
    assert GateResult(GateOptions(), [verdict(), verdict(failures=["x"])]).exit_code == 1
    assert GateResult(GateOptions(), [verdict(failures=["x"]), verdict(errors=["y"])]).exit_code == 2
    assert GateResult(GateOptions(), []).exit_code == 0


def test_corpus_baseline_stores_predictions_but_no_sample_scores(results_root: Path, run_writer) -> None:
    run_dir = run_writer(results_root, "M", "coco", 1.1, n=2, aggregation="corpus", metric="cider_coco")
    lines = [{"index": i, "id": f"c{i}", "prediction": f"cap {i}", "score": None} for i in range(2)]
    (run_dir / "predictions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    baseline, warnings = baseline_from_tree(load_results(results_root))
    assert warnings == []
    assert baseline.entries[0].sample_scores is None
    assert baseline.entries[0].predictions == {"c0": "cap 0", "c1": "cap 1"}


def test_gate_lists_runs_not_in_baseline(results_root: Path, make_run) -> None:
    make_run("M", "ocrbench", 800, n=1000, aggregation="sum", metric="ocrbench")
    make_run("M", "extra", 0.5)
    result = run_gate(load_results(results_root), Baseline((entry(),)), GateOptions())
    assert result.exit_code == 0
    assert result.not_in_baseline == ["M/extra"]


def _baseline_json(tmp_path: Path, mutate) -> Path:
    path = tmp_path / "baseline.json"
    write_baseline(path, Baseline((entry(sample_scores={"1": 1.0}, predictions={"1": "a"}),)))
    obj = json.loads(path.read_text())
    mutate(obj)
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.update(schema=7), "unsupported baseline schema 7"),
        (lambda o: o.update(entries={}), "'entries' must be a list"),
        (lambda o: o["entries"].append(o["entries"][0]), r"entries\[1\]: duplicate entry"),
        (lambda o: o["entries"][0].update(score=None), r"entries\[0\]: 'score' must be a finite number"),
        (lambda o: o["entries"][0].update(tolerance=-1), "'tolerance' must be >= 0"),
        (lambda o: o["entries"][0].update(aggregation="max"), "'aggregation' must be one of"),
        (lambda o: o["entries"][0]["fingerprint"].pop("prompt_sha256"), "'fingerprint' must be an object"),
        (lambda o: o["entries"][0].update(sample_scores={"1": "x"}), r"sample_scores\['1'\]"),
        (lambda o: o["entries"][0].update(predictions={"1": 3}), "'predictions' must be an object"),
        (lambda o: o["entries"][0].update(n=-5), "'n' must be a non-negative integer"),
    ],
)
def test_invalid_baseline_names_file_entry_and_problem(tmp_path: Path, mutate, message: str) -> None:
    path = _baseline_json(tmp_path, mutate)
    with pytest.raises(BaselineError, match=message) as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_baseline_round_trip_preserves_entries(tmp_path: Path) -> None:
    path = _baseline_json(tmp_path, lambda o: None)
    loaded = load_baseline(path)
    assert loaded.entries == (entry(sample_scores={"1": 1.0}, predictions={"1": "a"}),)
