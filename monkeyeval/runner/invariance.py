"""Batch-size invariance: run the same samples at batch size 1 and at a larger size, list changed answers.

Left padding can shift answers (positions, attention numerics); users must be able to see whether their
model and batch size are affected before trusting a batched run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monkeyeval.core.types import PredictionRecord
from monkeyeval.models.base import DecodeSettings, ModelAdapter
from monkeyeval.runner.data import WorkItem, worker_count
from monkeyeval.runner.distributed import DistContext
from monkeyeval.runner.engine import predict
from monkeyeval.runner.request import RunRequest, parse_model_options
from monkeyeval.runner.session import RunSession


@dataclass(frozen=True)
class AnswerChange:
    """A sample whose answer (or error) differs between the two batch sizes."""

    index: int
    id: str
    small: str
    large: str


@dataclass
class InvarianceReport:
    """Both runs' records and the samples that changed."""

    small_batch: int
    large_batch: int
    small: list[PredictionRecord]
    large: list[PredictionRecord]
    changes: list[AnswerChange]


def _answer(record: PredictionRecord) -> str:
    return f"<error: {record.error}>" if record.error else record.prediction


def run_all(
    adapter: ModelAdapter,
    items: Sequence[WorkItem],
    settings: DecodeSettings,
    batch_size: int,
    num_workers: int,
) -> list[PredictionRecord]:
    """Every item's record at one batch size, in item order."""
    return [
        record for batch in predict(adapter, items, settings, batch_size, num_workers) for record in batch
    ]


def compare_batch_sizes(
    adapter: ModelAdapter,
    items: Sequence[WorkItem],
    settings: DecodeSettings,
    large_batch: int,
    num_workers: int = 0,
    small_batch: int = 1,
) -> InvarianceReport:
    """Run `items` at both batch sizes (in this process, nothing written) and list the answers that differ."""
    small = run_all(adapter, items, settings, small_batch, num_workers)
    large = run_all(adapter, items, settings, large_batch, num_workers)
    changes = [
        AnswerChange(a.index, a.id, _answer(a), _answer(b))
        for a, b in zip(small, large, strict=True)
        if _answer(a) != _answer(b)
    ]
    return InvarianceReport(small_batch, large_batch, small, large, changes)


def run_invariance_check(
    *,
    task: str,
    checkpoint: str,
    limit: int,
    batch_size: int,
    family: str | None,
    device: str,
    dtype: str,
    num_workers: int | None,
    prompt_profile: str | None,
    max_new_tokens: int | None,
    model_options: Sequence[str],
    trust_remote_code: bool,
    data_root: Path | None,
    tasks_dirs: tuple[Path, ...],
    console: Console,
) -> int:
    """`monkeyeval check-invariance`: load once, compare batch 1 with `batch_size`; returns #changes."""
    request = RunRequest(
        tasks=(task,),
        checkpoint=checkpoint,
        family=family,
        batch_size=batch_size,
        num_workers=num_workers,
        limit=limit,
        device=device,
        dtype=dtype,
        prompt_profile=prompt_profile,
        max_new_tokens=max_new_tokens,
        model_options=parse_model_options(model_options),
        trust_remote_code=trust_remote_code,
        data_root=data_root,
        tasks_dirs=tasks_dirs,
    )
    session = RunSession(request, console, DistContext())
    loaded = session.load_for_single_task()
    workers = worker_count(num_workers, loaded.device)
    report = compare_batch_sizes(loaded.adapter, loaded.items, loaded.settings, batch_size, workers)
    print_invariance_report(console, loaded.task.name, report)
    return len(report.changes)


def print_invariance_report(console: Console, task_name: str, report: InvarianceReport) -> None:
    """A table of changed answers and a one-line count."""
    n = len(report.small)
    if report.changes:
        table = Table(
            title=f"{task_name}: answers that change between batch {report.small_batch} and "
            f"{report.large_batch}"
        )
        for column in ("index", "id", f"batch {report.small_batch}", f"batch {report.large_batch}"):
            table.add_column(column)
        for change in report.changes:
            table.add_row(str(change.index), change.id, repr(change.small), repr(change.large))
        console.print(table)
    console.print(
        f"{task_name}: {len(report.changes)} of {n} answers change between batch size {report.small_batch} "
        f"and {report.large_batch}",
        highlight=False,
    )
