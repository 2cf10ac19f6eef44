"""`monkeyeval data check` and `data pull`: are the files a task or group reads in place, and fetch them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from monkeyeval.cli.errors import EXIT_USAGE, reported

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichBar

    from monkeyeval.tasks.datapull import ItemResult

TASK_ARG = typer.Argument(..., metavar="TASK_OR_GROUP...", help="Tasks or groups (comma lists too).")
DATA_ROOT_OPT = typer.Option(
    None,
    "--data-root",
    metavar="DIR",
    help="Folder task data paths resolve against (default: $MONKEYEVAL_DATA, else the cwd).",
)
TASKS_DIR_OPT = typer.Option(
    None, "--tasks-dir", metavar="DIR", help="Extra folder of task YAMLs (repeatable)."
)


def check_command(
    task: list[str] = TASK_ARG,
    data_root: Path | None = DATA_ROOT_OPT,
    tasks_dir: list[Path] | None = TASKS_DIR_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON (one object each)."),
) -> None:
    """List every missing or mismatching data file of the tasks at once (dataset file and its sha256, image
    root, annotation file, and the sha256/md5 of each present `sources` file), each with how to get it.
    Exit 0 when all are in place, 2 otherwise.

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
    pullable = sorted({p.task for p in problems if registry.get(p.task).sources})
    pull_line = f"monkeyeval data pull {','.join(pullable)} --data-root {root}" if pullable else ""
    if as_json:
        rows = [
            {"task": p.task, "role": p.role, "path": str(p.path), "problem": p.problem, "fix": p.hint}
            for p in problems
        ]
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
        if pull_line:
            console.print(f"Fetch what is missing with: {pull_line}", highlight=False, soft_wrap=True)
        unsourced = sorted({p.task for p in problems if registry.get(p.task).sources is None})
        if unsourced:
            console.print(
                f"No `sources` in the YAML of {', '.join(unsourced)}: fetch their files by hand.",
                highlight=False,
                soft_wrap=True,
            )
    if problems:
        raise typer.Exit(EXIT_USAGE)


class RichProgress:
    """Byte progress of one file at a time on a rich bar (stderr)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar: RichBar | None = None
        self.task_id: object = None

    def start(self, label: str, total: int | None) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        self.bar = Progress(*columns, console=self.console, transient=True)
        self.bar.start()
        self.task_id = self.bar.add_task(label, total=total)

    def advance(self, n_bytes: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task_id, n_bytes)  # type: ignore[arg-type]

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def pull_command(
    task: list[str] = TASK_ARG,
    data_root: Path | None = DATA_ROOT_OPT,
    tasks_dir: list[Path] | None = TASKS_DIR_OPT,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be fetched, and from where."),
    timeout: float = typer.Option(
        60.0, "--timeout", metavar="SECONDS", min=1.0, help="Network timeout of each HTTP read."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print each source's result as JSON."),
) -> None:
    """Fetch every data file of the tasks that is not already in place and verified, from the `sources` of
    their YAMLs: hub files through huggingface_hub (HF_HUB_OFFLINE and HF_HUB_CACHE apply), URLs over HTTP;
    then verify sha256/md5, unpack archives and convert TSVs where the task reads them. A second pull skips
    what is verified. Every failure is listed at the end with what to fetch by hand and where to put it.
    Exit 0 when all is in place, 2 otherwise.

    Example: monkeyeval data pull ocrbench,minimonkey_paper --data-root /data
    """
    from monkeyeval.core.table_fit import TableView, print_fitted
    from monkeyeval.report.render import make_console
    from monkeyeval.tasks.datapull import pull, raise_failures
    from monkeyeval.tasks.registry import TaskRegistry

    registry = TaskRegistry.discover(tasks_dir or [], data_root=data_root)
    tasks = registry.resolve(task)
    err = make_console(stderr=True)
    progress = RichProgress(err) if err.is_terminal and not dry_run else None
    report = pull(tasks, dry_run=dry_run, timeout=timeout, progress=progress)
    root = registry.data_root.path
    if as_json:
        typer.echo(json.dumps([_result_json(r) for r in report.results], ensure_ascii=False, indent=2))
        if not dry_run:
            raise_failures(report, root, ",".join(task))
        return
    console = make_console()
    rows = [
        [r.action, r.item.label, r.item.tasks_text(), _shown(r.item.source.path, root), r.detail]
        for r in report.results
    ]
    if rows:
        title = f"{len(rows)} data sources" + (" (dry run: nothing fetched)" if dry_run else "")
        print_fitted(console, TableView(title, ["action", "file", "tasks", "to", "detail"], rows))
    console.print(f"{registry.data_root.describe()}", highlight=False, soft_wrap=True)
    if dry_run:
        for line in report.failures:
            console.print(f"by hand: {line}", highlight=False, soft_wrap=True)
        return
    raise_failures(report, root, ",".join(task))


def _result_json(result: ItemResult) -> dict[str, object]:
    source = result.item.source
    return {
        "action": result.action,
        "file": result.item.label,
        "tasks": list(result.item.tasks),
        "kind": source.kind,
        "path": str(source.path),
        "detail": result.detail,
    }


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def register(app: typer.Typer) -> None:
    """Add `monkeyeval data check` and `monkeyeval data pull`."""
    data = typer.Typer(help="Check and fetch the data files tasks read.", no_args_is_help=True)
    data.command("check")(reported(check_command))
    data.command("pull")(reported(pull_command))
    app.add_typer(data, name="data")
