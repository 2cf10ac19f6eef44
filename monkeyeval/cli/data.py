"""`monkeyeval data check`: is every file a task or group reads in place under the data root?"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from monkeyeval.cli.errors import EXIT_USAGE, reported


def check_command(
    task: list[str] = typer.Argument(
        ..., metavar="TASK_OR_GROUP...", help="Tasks or groups (comma lists too)."
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
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON (one object each)."),
) -> None:
    """List every missing or mismatching data file of the tasks at once (dataset file and its sha256, image
    root, annotation file). Exit 0 when all are in place, 2 otherwise.

    Example: monkeyeval data check monkey_paper --data-root /data/Monkey
    """
    from rich.console import Console

    from monkeyeval.core.table_fit import TableView, print_fitted
    from monkeyeval.tasks.datacheck import file_problems
    from monkeyeval.tasks.registry import TaskRegistry

    registry = TaskRegistry.discover(tasks_dir or [], data_root=data_root)
    tasks = registry.resolve(task)
    problems = file_problems(tasks)
    root = registry.data_root.path
    if as_json:
        rows = [{"task": p.task, "role": p.role, "path": str(p.path), "problem": p.problem} for p in problems]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        console = Console()
        if problems:
            rows_text = [[p.task, p.shown_path(root), f"{p.role}: {p.problem}"] for p in problems]
            view = TableView(f"{len(problems)} data problems", ["task", "path", "problem"], rows_text)
            print_fitted(console, view)
        console.print(
            f"{len(tasks) - len({p.task for p in problems})} of {len(tasks)} tasks have every file in place "
            f"({registry.data_root.describe()})",
            highlight=False,
            soft_wrap=True,
        )
    if problems:
        raise typer.Exit(EXIT_USAGE)


def register(app: typer.Typer) -> None:
    """Add `monkeyeval data check`."""
    data = typer.Typer(help="Check the data files tasks read.", no_args_is_help=True)
    data.command("check")(reported(check_command))
    app.add_typer(data, name="data")
