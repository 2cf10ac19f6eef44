"""Every hostile input of the seeded corpus (tests/cli/hostile_corpus.py) is handled as the README says.

Handled means: the documented exit code; no Python traceback and at most one short paragraph of error; the
offending file, key or flag named; a run that goes on counts what it skipped (n_skipped_lines) or failed
(n_errors) in scores.json; report and gate list each damaged results file instead of failing on it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from cli.hostile_corpus import Case, all_cases
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app

CASES = all_cases()
MAX_ERROR_CHARS = 1500  # "one paragraph": a real error message, never a dump
BOX_AND_SPACE = r"[\s─━│┃╭╮╰╯]+"  # typer's error box is drawn as wide as the terminal


def test_the_corpus_is_large_and_covers_every_kind() -> None:
    kinds = {case.name.split("/")[0] for case in CASES}
    assert kinds == {"yaml", "line", "image", "checkpoint", "flag", "predictions", "results", "baseline"}
    assert len(CASES) >= 100
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("MONKEYEVAL_TASKS_PATH", "MONKEYEVAL_DATA", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "2000")  # messages on one line each, whatever the terminal
    monkeypatch.chdir(tmp_path)
    tests_dir = str(Path(__file__).resolve().parents[1])
    if tests_dir not in sys.path:
        monkeypatch.syspath_prepend(tests_dir)  # the fake adapter (runner.fake_adapter) is importable


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_is_handled(case: Case, tmp_path: Path) -> None:
    root = tmp_path / "case"
    root.mkdir()
    argv = case.build(root)
    result = CliRunner().invoke(build_app(), argv, catch_exceptions=False)
    output = result.output
    assert result.exit_code in case.codes, (
        f"exit {result.exit_code}, expected {case.codes}:\n{output[-3000:]}"
    )
    assert "Traceback" not in output
    if result.exit_code == 2 and argv[0] != "gate":  # the gate reports in its table, per task
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        flag_refused = "Invalid value for" in output  # typer's own check of a flag's range
        assert len(errors) == 1 or flag_refused, output[-3000:]
        assert len(re.sub(BOX_AND_SPACE, " ", output)) < MAX_ERROR_CHARS, output[:3000]
    for text in case.mentions:
        assert text in output, f"{text!r} not named in:\n{output[-3000:]}"
    if case.skipped_lines is not None or case.errors is not None:
        _check_run_counts(case, root, output)
    if case.problems is not None:
        problems = [line for line in output.splitlines() if line.startswith("skipped ")]
        assert len(problems) == case.problems, output[-3000:]


def _check_run_counts(case: Case, root: Path, output: str) -> None:
    scores_path = root / "results" / "fake" / "tiny" / "scores.json"
    if case.codes == (2,):
        assert not scores_path.exists()
        return
    scores = json.loads(scores_path.read_text(encoding="utf-8"))
    if case.skipped_lines is not None:
        assert scores["n_skipped_lines"] == case.skipped_lines, output[-2000:]
        assert len(scores["skipped_lines"]) == case.skipped_lines
    if case.errors is not None:
        assert scores["n_errors"] == case.errors, output[-2000:]
