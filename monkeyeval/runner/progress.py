"""Progress on the first rank: a rich bar on a terminal, plain log lines otherwise (CI logs)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    """Samples done, samples/s, ETA and errors so far for one task on this rank.

    `enabled=False` (ranks other than 0) makes every call a no-op. On a terminal a rich progress bar is
    drawn; otherwise one line is printed at most every `log_every_s` seconds and once at the end.
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        log_every_s: float = 10.0,
        already_done: int = 0,
    ) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled and total > 0
        self.stream = stream if stream is not None else sys.stderr
        self.log_every_s = log_every_s
        self.already_done = already_done
        self.done = 0
        self.errors = 0
        self.started = time.perf_counter()
        self._last_log = self.started
        self._bar: Any = None
        self._task_id: Any = None
        if self.enabled and self.stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.2f} samples/s"),
                TimeRemainingColumn(),
                TextColumn("errors {task.fields[errors]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task_id = self._bar.add_task(label, total=total, rate=0.0, errors=0)

    @property
    def rate(self) -> float:
        """Samples per second since the start."""
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, n_samples: int, n_errors: int = 0) -> None:
        """Count a finished batch."""
        if not self.enabled:
            return
        self.done += n_samples
        self.errors += n_errors
        if self._bar is not None:
            self._bar.update(self._task_id, advance=n_samples, rate=self.rate, errors=self.errors)
            return
        now = time.perf_counter()
        if now - self._last_log >= self.log_every_s:
            self._last_log = now
            self._log()

    def _log(self) -> None:
        rate = self.rate
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        resumed = f" (+{self.already_done} from earlier runs)" if self.already_done else ""
        print(
            f"[{self.label}] {self.done}/{self.total} samples{resumed}, {rate:.2f} samples/s, ETA {eta}, "
            f"errors {self.errors}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        """Stop the bar (or print the final log line)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.stop()
        else:
            self._log()
