"""`monkeyeval tasks` and `monkeyeval metrics`: list what is available (reads YAML and plugins only)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from monkeyeval.cli.errors import reported
from monkeyeval.core.table_fit import TableView, print_fitted

JSON_HELP = "Print JSON (one object per entry) instead of a table."


def _display_path(path: Path, roots: tuple[Path, ...]) -> str:
    for root in roots:
        if path.is_relative_to(root):
            return f"{root.name}/{path.relative_to(root)}"
    return str(path)


def _package_relative(source: str) -> str:
    """A plugin file shown from its top-level package (`metrics/anls.py`), never as a site-packages path;
    entry points and other non-file sources are shown as they are."""
    path = Path(source)
    if not path.is_absolute() or not path.is_file():
        return source
    top = path.parent
    while (top.parent / "__init__.py").is_file():
        top = top.parent
    return str(path.relative_to(top.parent))


def _print_json(rows: list[dict[str, object]]) -> None:
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))


def tasks_command(
    tasks_dir: list[Path] | None = typer.Option(
        None, "--tasks-dir", metavar="DIR", help="Extra folder of task YAMLs (repeatable)."
    ),
    data_root: Path | None = typer.Option(
        None,
        "--data-root",
        metavar="DIR",
        help="Folder relative dataset paths resolve against (default: $MONKEYEVAL_DATA, else the cwd).",
    ),
    group: str | None = typer.Option(None, "--group", "-g", help="Only list the tasks of this group."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List tasks (metric, max_new_tokens, groups, source YAML) and groups.

    Searches the built-in tasks, then $MONKEYEVAL_TASKS_PATH, then --tasks-dir folders.

    Example: monkeyeval tasks --group monkey_paper
    """
    from rich.console import Console
    from rich.markup import escape

    from monkeyeval.tasks.registry import TaskRegistry

    console = Console()
    registry = TaskRegistry.discover(tasks_dir or [], data_root=data_root)
    selected = registry.resolve([group]) if group else registry.tasks()
    if as_json:
        _print_json(
            [
                {
                    "task": task.name,
                    "metrics": list(task.metrics),
                    "max_new_tokens": task.max_new_tokens,
                    "family_max_new_tokens": dict(task.family_max_new_tokens),
                    "groups": list(task.groups),
                    "source": _display_path(task.source, registry.searched),
                }
                for task in selected
            ]
        )
        return
    rows = []
    for task in selected:
        overrides = ", ".join(f"{family}: {n}" for family, n in task.family_max_new_tokens.items())
        tokens = f"{task.max_new_tokens}" + (f" ({overrides})" if overrides else "")
        source = _display_path(task.source, registry.searched)
        rows.append([task.name, ", ".join(task.metrics), tokens, ", ".join(task.groups), source])
    headers = ["task", "metric", "max_new_tokens", "groups", "source"]
    print_fitted(console, TableView(f"{len(selected)} tasks", headers, rows))
    groups = registry.groups()
    if groups and not group:
        group_rows = [[name, ", ".join(members)] for name, members in groups.items()]
        print_fitted(console, TableView(f"{len(groups)} groups", ["group", "tasks"], group_rows))
    console.print(
        f"relative dataset paths resolve against the {escape(registry.data_root.describe())}", highlight=False
    )


def metrics_command(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List metrics: name, aliases, aggregation, version and where each is defined."""
    from rich.console import Console

    from monkeyeval.metrics.registry import load_metric_registry

    registry = load_metric_registry()
    aliases_of: dict[str, list[str]] = {}
    for alias, canonical in registry.aliases().items():
        aliases_of.setdefault(canonical, []).append(alias)
    if as_json:
        _print_json(
            [
                {
                    "metric": metric.name,
                    "aliases": aliases_of.get(metric.name, []),
                    "aggregation": metric.aggregation,
                    "version": metric.version,
                    "source": _package_relative(registry.source(metric.name)),
                }
                for metric in registry.all()
            ]
        )
        return
    rows = [
        [
            metric.name,
            ", ".join(aliases_of.get(metric.name, [])),
            metric.aggregation,
            metric.version,
            _package_relative(registry.source(metric.name)),
        ]
        for metric in registry.all()
    ]
    headers = ["metric", "aliases", "aggregation", "version", "source"]
    print_fitted(Console(), TableView(f"{len(registry.names())} metrics", headers, rows))


def register(app: typer.Typer) -> None:
    """Add `monkeyeval tasks` and `monkeyeval metrics`."""
    app.command("tasks")(reported(tasks_command))
    app.command("metrics")(reported(metrics_command))
