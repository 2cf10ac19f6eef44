"""`monkeyeval export`: a finished run's predictions as the file an official evaluation server accepts."""

from __future__ import annotations

from pathlib import Path

import typer

from monkeyeval.cli.errors import reported

RUN_FILES = ("predictions.jsonl", "scores.json", "predict_only.json", "run.json")

EXPORT_HELP = """Write a finished run's answers as the file an official test server accepts.

RUN_DIR is a run folder, results/<model>/<task>/, holding predictions.jsonl and scores.json, or
predict_only.json for a test split without answers (`monkeyeval run --predict-only`). The task's dataset
is read too (pass the --data-root and --tasks-dir the run used): every question must have an answer.

Formats (--format):

\b
  docvqa          DocVQA Task 1 (rrc.cvc.uab.es)
  infovqa         InfographicVQA (Task 3 there)
                  both: [{"questionId": int, "answer": str}]
  textvqa-evalai  TextVQA on EvalAI: [{"question_id": int, "answer": str}]
  vizwiz-evalai   VizWiz VQA on EvalAI: [{"image": str, "answer": str}], the
                  image file name from the dataset (VizWiz_test_00000000.jpg)

Answers are written exactly as predicted, in dataset order. The file is written atomically to
RUN_DIR/submission_<format>.json unless -o says where; notes (predict-only or scored run, names that do not
look like the server's) go to stderr.

Example (a DocVQA test split, whose answers only the server holds):

\b
  monkeyeval run --task docvqa_test --ckpt echo840/Monkey --predict-only \\
      --data-root /data/Monkey
  monkeyeval export results/echo840__Monkey/docvqa_test --format docvqa \\
      --data-root /data/Monkey

Exit codes: 0 written; 1 the run is incomplete (predictions missing or errored, a --limit run); 2 not a
finished run, ids that do not fit the format, or a bad option.
"""


def export_command(
    run_dir: Path = typer.Argument(..., help="Run folder: results/<model>/<task>/."),
    fmt: str = typer.Option(
        ..., "--format", "-f", help="docvqa, infovqa, textvqa-evalai or vizwiz-evalai (see above)."
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        metavar="FILE",
        help="Where to write (default: RUN_DIR/submission_<format>.json).",
    ),
    data_root: Path | None = typer.Option(
        None,
        "--data-root",
        metavar="DIR",
        help="Folder task data paths resolve against (default: $MONKEYEVAL_DATA, else the cwd).",
    ),
    tasks_dir: list[Path] | None = typer.Option(
        None, "--tasks-dir", metavar="DIR", help="Extra folder of task YAMLs (repeatable)."
    ),
    allow_errors: bool = typer.Option(
        False,
        "--allow-errors",
        help="Submit samples whose generation failed with the text they have (usually empty).",
    ),
) -> None:
    from monkeyeval.convert.submission import export_run, get_format, write_submission
    from monkeyeval.report.render import make_console
    from monkeyeval.tasks.registry import TaskRegistry

    get_format(fmt)  # a bad name fails before anything is read
    target = output if output is not None else run_dir / f"submission_{fmt}.json"
    check_output(run_dir, target)
    registry = TaskRegistry.discover(tasks_dir or [], data_root=data_root)
    _run, submission = export_run(run_dir, fmt, registry, allow_errors=allow_errors)
    err = make_console(stderr=True)
    for note in submission.notes:
        err.print(f"[yellow]note:[/yellow] {_escape(note)}", highlight=False, soft_wrap=True)
    write_submission(target, submission)
    typer.echo(f"wrote {len(submission.entries)} answers to {target} ({submission.format.server})")


def check_output(run_dir: Path, output: Path) -> None:
    """ExportError when `output` is a folder or one of the run's own files."""
    from monkeyeval.convert.submission import ExportError

    if output.is_dir():
        raise ExportError(f"{output} is a folder; pass -o a file name (e.g. {output / 'submission.json'})")
    if output.resolve().parent == run_dir.resolve() and output.name in RUN_FILES:
        raise ExportError(f"{output} is one of the run's own files; pass -o another file name")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def register(app: typer.Typer) -> None:
    """Add `monkeyeval export`."""
    app.command("export", help=EXPORT_HELP)(reported(export_command))
