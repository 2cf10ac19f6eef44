"""The one error path: every command maps its errors to the README's exit codes the same way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.cli.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILURE,
    EXIT_USAGE,
    reported,
)
from monkeyeval.core.errors import IncompleteResults, RunFailure, UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CHECKPOINT = REPO_ROOT / "demo" / "checkpoint"


def toy_app(error: BaseException) -> typer.Typer:
    """A one-command app whose command raises `error`."""
    app = typer.Typer()

    @app.command()
    @reported
    def fail() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UserError("tasks/x.yaml: key 'metric': unknown metric 'nope'"), EXIT_USAGE),
        (IncompleteResults("3 of 10 samples have no prediction"), EXIT_FAILED),
        (RunFailure("rank 1 died"), EXIT_RUN_FAILURE),
        (KeyboardInterrupt(), EXIT_INTERRUPTED),
    ],
)
def test_each_error_kind_has_its_exit_code_and_one_message(error: BaseException, code: int):
    result = CliRunner().invoke(toy_app(error), [])
    assert result.exit_code == code
    assert "Traceback" not in result.output
    if isinstance(error, KeyboardInterrupt):
        assert "interrupted" in result.output and "resume" in result.output
    else:
        assert result.output.strip() == f"error: {error}"


def test_an_error_that_is_not_ours_is_a_bug_and_keeps_its_traceback():
    result = CliRunner().invoke(toy_app(KeyError("config")), [])
    assert isinstance(result.exception, KeyError)  # not turned into a one-line message
    assert "error:" not in result.output


def test_messages_are_printed_literally():
    result = CliRunner().invoke(toy_app(UserError("field [red]answers[/red] is missing")), [])
    assert result.output.strip() == "error: field [red]answers[/red] is missing"


def write_replay_file(path: Path) -> Path:
    path.write_text(json.dumps({"id": "0", "prediction": "x"}) + "\n", encoding="utf-8")
    return path


def family_checkpoints(parity_dir: Path, tmp_path: Path) -> dict[str, Path]:
    return {
        "hf": DEMO_CHECKPOINT,
        "monkey": parity_dir / "monkey" / "checkpoint",
        "textmonkey": parity_dir / "textmonkey" / "checkpoint",
        "minimonkey": parity_dir / "minimonkey" / "checkpoint",
        "replay": write_replay_file(tmp_path / "predictions.jsonl"),
    }


@pytest.mark.parametrize("family", ["hf", "monkey", "textmonkey", "minimonkey", "replay"])
def test_an_unknown_model_option_is_the_same_usage_error_on_every_family(
    family: str, parity_dir: Path, tmp_path: Path
):
    checkpoint = family_checkpoints(parity_dir, tmp_path)[family]
    args = ["run", "--task", "demo", "--ckpt", str(checkpoint), "--model", family]
    args += ["--model-option", "nope=1", "--results", str(tmp_path / "results")]
    result = CliRunner().invoke(build_app(), args, env={"COLUMNS": "400"})
    assert result.exit_code == EXIT_USAGE, result.output
    assert "Traceback" not in result.output
    assert f"unknown {family} option(s) ['nope']" in result.output
    assert "--model-option" in result.output  # says where the key came from
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("predictions.jsonl"))


def test_a_bad_option_value_names_what_is_accepted(parity_dir: Path, tmp_path: Path):
    args = ["run", "--task", "demo", "--ckpt", str(parity_dir / "minimonkey" / "checkpoint")]
    args += ["--model-option", "use_scm=maybe", "--results", str(tmp_path / "results")]
    result = CliRunner().invoke(build_app(), args, env={"COLUMNS": "400"})
    assert result.exit_code == EXIT_USAGE, result.output
    assert "minimonkey option use_scm='maybe': expected true or false" in result.output


@pytest.mark.parametrize("family", ["monkey", "textmonkey", "minimonkey"])
def test_a_config_value_the_model_cannot_use_is_a_usage_error_naming_config_json(
    family: str, parity_dir: Path, tmp_path: Path
):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(parity_dir / family / "checkpoint", checkpoint)
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    section = config.get("llm_config", config)  # Mini-Monkey nests its language model's config
    section["hidden_size"] = "sixty-four"
    (checkpoint / "config.json").write_text(json.dumps(config), encoding="utf-8")
    args = ["run", "--task", "demo", "--ckpt", str(checkpoint), "--results", str(tmp_path / "results")]
    result = CliRunner().invoke(build_app(), args, env={"COLUMNS": "400"})
    assert result.exit_code == EXIT_USAGE, result.output
    assert str(checkpoint / "config.json") in result.output and "Traceback" not in result.output
