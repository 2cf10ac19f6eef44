"""`monkeyeval score`: score an external predictions file against a task's answers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from monkeyeval.cli.errors import EXIT_CODES_HELP, reported
from monkeyeval.core.errors import IncompleteResults, UserError
from monkeyeval.core.gcpause import collection_paused

if TYPE_CHECKING:
    from monkeyeval.convert.predictions import ExternalPredictions
    from monkeyeval.core.types import PredictionRecord, Sample
    from monkeyeval.results.schema import TaskScore
    from monkeyeval.tasks.config import TaskConfig

SHOW_IDS = 5
PLAIN_ROW_KEYS = frozenset({"id", "prediction"})


class MissingPolicy(str, Enum):
    """What to do with dataset ids that have no prediction."""

    wrong = "wrong"
    fail = "fail"


@dataclass
class ScoreOutcome:
    """What `score_file` did: the score, where it was written, skipped dataset lines and missing ids."""

    result: TaskScore
    run_dir: Path
    n_dataset_problems: int
    missing_ids: list[str]
    notes: tuple[str, ...] = ()  # how the file's records were matched to ids (lmms-eval by position)


class ScoreUsageError(UserError):
    """A predictions file that cannot be scored as it is (exit code 2)."""


class ScoreValidationError(IncompleteResults):
    """The predictions do not cover what `--missing fail` requires (exit code 1)."""


def _first(ids: list[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:SHOW_IDS])
    return shown + (", ..." if len(ids) > SHOW_IDS else "")


def build_records(
    samples: list[Sample],
    predictions: ExternalPredictions,
    missing: MissingPolicy,
    source: Path,
    id_rule: str = "question_id",
) -> tuple[list[PredictionRecord], list[str]]:
    """Validate ids; records in dataset order (missing ids as errored placeholders) and the missing ids."""
    if predictions.problems:
        listing = "\n  ".join(predictions.problems[:SHOW_IDS])
        what = "lines" if predictions.format == "monkeyeval" else "records"
        raise ScoreUsageError(
            f"{len(predictions.problems)} bad {what} in {source} (read as --format {predictions.format}):\n"
            f"  {listing}"
        )
    if not predictions.rows:  # (a duplicate is only ever a second row of an id in `rows`)
        raise ScoreUsageError(f"{source}: holds no predictions (read as --format {predictions.format})")
    records, missing_ids = _records_in_dataset_order(samples, predictions.rows)
    n_matched = len(samples) - len(missing_ids)
    duplicates = list(dict.fromkeys(predictions.duplicates))
    if duplicates or n_matched < len(predictions.rows):
        known = {s.id for s in samples}
        unknown = [i for i in predictions.rows if i not in known]
        parts = []
        if duplicates:
            parts.append(f"{len(duplicates)} duplicate ids (first: {_first(duplicates)})")
        if unknown:
            expected = _first([sample.id for sample in samples])
            parts.append(
                f"{len(unknown)} ids not in the task's dataset (first: {_first(unknown)}; the dataset's ids, "
                f"made by its id rule {id_rule!r}, look like {expected})"
            )
        fix = "each dataset id may appear once" if duplicates and not unknown else "check --task and --format"
        raise ScoreUsageError(f"{source}: " + "; ".join(parts) + f". {fix}.")
    if missing_ids and missing is MissingPolicy.fail:
        raise ScoreValidationError(
            f"{source}: {len(missing_ids)} of {len(samples)} dataset ids have no prediction (first: "
            f"{_first(missing_ids)}); use --missing wrong to score them as 0"
        )
    return records, missing_ids


def _records_in_dataset_order(
    samples: list[Sample], rows: dict[str, dict[str, Any]]
) -> tuple[list[PredictionRecord], list[str]]:
    """One record per sample (a missing id gets an errored placeholder) and the ids without a row."""
    from monkeyeval.core.types import MISSING_PREDICTION_ERROR, PredictionRecord

    records = []
    missing_ids = []
    for sample in samples:
        row = rows.get(sample.id)
        if row is None:
            missing_ids.append(sample.id)
            records.append(
                PredictionRecord(
                    sample.index, sample.id, "", "", list(sample.answers), error=MISSING_PREDICTION_ERROR
                )
            )
        elif row.keys() <= PLAIN_ROW_KEYS:  # the common external file: nothing but the prediction
            records.append(
                PredictionRecord(sample.index, sample.id, "", row["prediction"], list(sample.answers))
            )
        else:
            error = row.get("error")
            records.append(
                PredictionRecord(
                    index=sample.index,
                    id=sample.id,
                    prompt=str(row.get("prompt", "")),
                    prediction=row["prediction"],
                    answers=list(sample.answers),
                    error=str(error) if error is not None else None,
                    n_new_tokens=row.get("n_new_tokens"),
                    truncated=bool(row.get("truncated", False)),
                )
            )
    return records, missing_ids


@collection_paused()
def score_file(
    task: TaskConfig,
    predictions_path: Path,
    model_name: str,
    results: Path,
    missing: MissingPolicy = MissingPolicy.wrong,
    seed: int = 0,
    fmt: str = "auto",
) -> ScoreOutcome:
    """Validate and score `predictions_path` (in format `fmt`), writing results/<model>/<task>/."""
    from monkeyeval.convert.predictions import read_predictions
    from monkeyeval.results.finalize import finalize_run
    from monkeyeval.results.layout import run_dir
    from monkeyeval.results.schema import InputNotes
    from monkeyeval.tasks.dataset import jsonl_sha256, load_samples

    # answers, not images (nor the images' names: no prompt is rendered)
    loaded = load_samples(task, check_image_root=False, resolve_images=False, image_names=False)
    predictions = read_predictions(predictions_path, fmt, task.fields, loaded.ids_by_row)
    records, missing_ids = build_records(
        loaded.samples, predictions, missing, predictions_path, task.fields.id
    )
    target = run_dir(results, model_name, task.name)
    fingerprint = {
        "family": "external",
        "checkpoint": None,
        "predictions_file": str(predictions_path.resolve()),
        "predictions_sha256": jsonl_sha256(predictions_path),
        "predictions_format": predictions.format,
    }
    result = finalize_run(
        target,
        task,
        records,
        fingerprint,
        model_name,
        n_missing=len(missing_ids),
        samples=loaded.samples,
        seed=seed,
        inputs=InputNotes(loaded.skipped_lines),
    )
    return ScoreOutcome(result, target, len(loaded.problems), missing_ids, tuple(predictions.notes))


def print_summary(outcome: ScoreOutcome) -> None:
    """Rich table: every metric with its CI, then the health counts."""
    result, target, n_dataset_problems = outcome.result, outcome.run_dir, outcome.n_dataset_problems
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from monkeyeval.core.numbers import format_interval, format_score

    console = Console()
    table = Table(title=f"{result.model} / {result.task}")
    table.add_column("metric")
    table.add_column("score", justify="right")
    table.add_column("95% CI", justify="right")
    for name, metric in result.metrics.items():
        ci_text = format_interval(metric.ci95, metric.aggregation) or "n/a"
        label = f"{name} (primary)" if name == result.metric else name
        table.add_row(label, format_score(metric.score, metric.aggregation), ci_text)
    console.print(table)
    console.print(
        f"n={result.n}  scored={result.n_scored}  errors={result.n_errors}  empty={result.n_empty}  "
        f"missing={result.n_missing}  truncated={result.n_truncated}",
        soft_wrap=True,
    )
    if n_dataset_problems:
        console.print(
            f"[yellow]{n_dataset_problems} dataset lines were skipped (malformed or missing keys)[/yellow]",
            soft_wrap=True,
        )
    for note in outcome.notes:
        console.print(f"[yellow]{escape(note)}[/yellow]", soft_wrap=True)
    if outcome.missing_ids:
        console.print(
            f"[yellow]{len(outcome.missing_ids)} dataset ids had no prediction and were scored 0 (first: "
            f"{escape(_first(outcome.missing_ids))})[/yellow]",
            soft_wrap=True,
        )
    console.print(f"wrote {escape(str(target))}/predictions.jsonl and scores.json", soft_wrap=True)


def score_command(
    predictions: Path = typer.Argument(
        ...,
        metavar="PREDICTIONS",
        help="Predictions file: monkeyeval jsonl, or another harness's output (see --format).",
    ),
    fmt: str = typer.Option(
        "auto",
        "--format",
        metavar="FORMAT",
        help="auto (tell from the file), monkeyeval ({id, prediction} lines), multimodalocr (the dataset's "
        "JSON array with a 'predict' per item), monkey (Monkey's eval results: questionId/question_id + "
        "answer), vlmevalkit (its <model>_<dataset>.xlsx/.tsv prediction table: index + prediction) or "
        "lmms-eval (its --log_samples <date>_samples_<task>.jsonl: doc_id + filtered_resps).",
    ),
    task: str = typer.Option(..., "--task", "-t", help="Task to score against (see `monkeyeval tasks`)."),
    model_name: str | None = typer.Option(
        None,
        "--model-name",
        help="Results folder name for the model (default: the predictions file name without suffix).",
    ),
    results: Path = typer.Option(Path("results"), "--results", help="Results root folder."),
    data_root: Path | None = typer.Option(
        None,
        "--data-root",
        metavar="DIR",
        help="Folder relative dataset paths resolve against (default: $MONKEYEVAL_DATA, else the cwd).",
    ),
    tasks_dir: list[Path] | None = typer.Option(
        None, "--tasks-dir", metavar="DIR", help="Extra folder of task YAMLs (repeatable)."
    ),
    missing: MissingPolicy = typer.Option(
        MissingPolicy.wrong,
        "--missing",
        help="Ids without a prediction: 'wrong' scores them 0 (counted in n_missing), 'fail' exits 1.",
    ),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed for the confidence intervals."),
) -> None:
    """Score an external predictions file against a task's answers.

    Ids are compared as strings. Duplicate ids, or ids the dataset does not have, exit 2. Writes
    RESULTS/<model>/<task>/predictions.jsonl and scores.json (atomically), like `monkeyeval run`.
    Optional keys per line: "prompt", "error" (scored 0), "truncated", "n_new_tokens".

    Example (re-scores the predictions of `monkeyeval run --task demo --ckpt demo`):

        monkeyeval score --task demo results/demo__checkpoint/demo/predictions.jsonl --model-name rescored
    """
    from monkeyeval.results.layout import safe_model_name
    from monkeyeval.tasks.registry import TaskRegistry

    if not predictions.is_file():
        raise ScoreUsageError(f"predictions file {predictions} does not exist")
    registry = TaskRegistry.discover(tasks_dir or [], data_root=data_root)
    config = registry.get(task)
    name = safe_model_name(model_name or predictions.stem)
    print_summary(score_file(config, predictions, name, results, missing, seed, fmt))


def register(app: typer.Typer) -> None:
    """Add `monkeyeval score`."""
    app.command("score", epilog=EXIT_CODES_HELP)(reported(score_command))
