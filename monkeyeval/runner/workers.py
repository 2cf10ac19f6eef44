"""Batches prepared in DataLoader worker processes, ahead of generation, by workers kept from loop to loop.

A `BatchPreparer` holds torch DataLoader workers (`persistent_workers`). The first loop over batches starts
them; a later loop with an equal preprocessor (the next task of a run with the same model options, a bench's
next round) reuses them, so it pays no process start or stop. Each loop hands the workers its batches
themselves: the loader's sampler yields a batch's work items, in the order a `BatchOrder` gives, and the
worker prepares them (`data.prepare_batch`) and packs them for the trip back (`data.pack_batch`).

A worker that dies (killed, out of memory, a crash in a decoder) or delivers nothing for `timeout_s` stops
the loader and its workers. The batch the loop was awaiting is then prepared by a worker of its own
(`_prepared_alone`: the worker that died may have held another batch), and fresh workers resume after it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from types import TracebackType
from typing import Any, Protocol

from monkeyeval.core.lifeline import die_with_parent
from monkeyeval.core.types import Sample
from monkeyeval.runner.data import (
    DEFAULT_PREPROCESS_TIMEOUT_S,
    Prepared,
    WorkItem,
    cut,
    pack_batch,
    prepare_batch,
    unpack_batch,
)

LOADER_FAILURES = ("DataLoader worker", "DataLoader timed out")  # torch's messages for a dead or hung worker
TRIES_PER_BATCH = 2  # a batch that kills or hangs its own worker this often is recorded as errors
LOADER_PREFETCH = 4  # batches each worker prepares ahead when the batches are all this rank's
CLAIMING_PREFETCH = 1  # ... and when they are claimed: a rank holds at most num_workers + 1 claimed batches


class Claimer(Protocol):
    """Where a rank gets its next batch from when batches are shared (runner/claims.py `ClaimPool`)."""

    def next_free(self) -> int | None:
        """Claim the next free batch and return its position; None once every batch is taken."""

    def mine(self) -> list[int]:
        """The positions of every batch this rank has claimed so far (read back from where claims live)."""


class BatchOrder:
    """Which batches of a planned list this rank runs, in the order it runs them.

    Without a `claimer` every batch is taken in turn. With one, a batch is claimed when the loader asks for
    one to prepare, and remembered, so the fresh loader started after a worker died re-sends the claimed
    batches not yet `delivered` before it claims more. torch raises a dead worker's error from a signal
    handler (`ChildSignals`: only while the rank waits on the loader, which is also when it claims), even
    between a claim and its record here: `recover` then takes such a claim back from the claimer, so no
    claimed batch is lost.
    """

    def __init__(self, n_batches: int, claimer: Claimer | None = None) -> None:
        self.n_batches = n_batches
        self.claimer = claimer
        self.claimed: list[int] = []
        self.delivered = 0  # batches of `claimed` handed to the consumer

    def _claim(self) -> int | None:
        if self.claimer is not None:
            return self.claimer.next_free()
        following = len(self.claimed)  # derived from what is recorded: an interrupted call loses nothing
        return following if following < self.n_batches else None

    def positions(self) -> Iterator[int]:
        """The claimed batches not yet delivered, then newly claimed ones (a torch sampler over positions)."""
        cursor = self.delivered
        while True:
            if cursor == len(self.claimed):
                position = self._claim()
                if position is None:
                    return
                self.claimed.append(position)
            yield self.claimed[cursor]
            cursor += 1

    def recover(self) -> None:
        """Record the claims an interrupted `positions` made but did not record (after a loader failure)."""
        if self.claimer is not None:
            known = set(self.claimed)
            self.claimed.extend(position for position in self.claimer.mine() if position not in known)

    def awaited(self) -> int | None:
        """The claimed batch the consumer waits for next (None: none claimed yet)."""
        return self.claimed[self.delivered] if self.delivered < len(self.claimed) else None


class BatchDataset:
    """Map-style dataset for torch's DataLoader whose index is a batch: its work items -> Prepared items."""

    def __init__(self, preprocess: Callable[[Sample, str], Any]) -> None:
        self.preprocess = preprocess

    def __getitem__(self, batch: Sequence[WorkItem]) -> list[Prepared]:
        return prepare_batch(batch, self.preprocess)


class BatchFeed:
    """The loader's sampler: the batches of the loop now running (each loop sets `batches` first)."""

    def __init__(self) -> None:
        self.batches: Iterable[Sequence[WorkItem]] = ()

    def __iter__(self) -> Iterator[Sequence[WorkItem]]:
        return iter(self.batches)


class BatchPreparer:
    """`num_workers` DataLoader workers preparing the batches of every loop (0: inline, in the rank).

    Use it as a context manager, or `close` it: its workers live until then (or until the rank dies).
    """

    def __init__(self, num_workers: int, timeout_s: float = DEFAULT_PREPROCESS_TIMEOUT_S) -> None:
        self.num_workers = num_workers
        self.timeout_s = timeout_s
        self._feed = BatchFeed()
        self._loader: Any = None  # torch's DataLoader, once a loop started its workers
        self._shape: tuple[Any, int, int] | None = None  # (preprocessor, workers, prefetch) of that loader

    def __enter__(self) -> BatchPreparer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def batches(
        self,
        batches: Sequence[Sequence[WorkItem]],
        preprocess: Callable[[Sample, str], Any],
        order: BatchOrder | None = None,
    ) -> Iterator[list[Prepared]]:
        """The `batches` that `order` picks (default: all, in list order), prepared by `preprocess` in the
        workers, ahead of the consumer. Workers kept from the last loop serve it when its preprocessor was
        equal (`==`: the same adapter and options) and it asks as many workers and as far ahead.

        With an `order` that claims batches (runner/claims.py), each worker prepares one batch ahead
        (`CLAIMING_PREFETCH`); otherwise `LOADER_PREFETCH`.
        """
        if not batches:
            return
        prefetch = LOADER_PREFETCH if order is None or order.claimer is None else CLAIMING_PREFETCH
        order = order if order is not None else BatchOrder(len(batches))
        if self.num_workers <= 0:
            for position in order.positions():
                yield prepare_batch(batches[position], preprocess)
                order.delivered += 1
            return
        workers, idle_deaths = min(self.num_workers, len(batches)), 0
        while True:
            try:
                for batch in self._stream(batches, order.positions(), (preprocess, workers, prefetch)):
                    yield batch
                    order.delivered += 1
                return
            except RuntimeError as exc:
                order.recover()
                awaited = order.awaited()
                if not str(exc).startswith(LOADER_FAILURES):
                    raise
                if awaited is None:  # kept workers that died while idle: fresh ones start the loop again
                    idle_deaths += 1
                    if idle_deaths > TRIES_PER_BATCH:
                        raise
                    continue
                yield self._prepared_alone(batches[awaited], preprocess, exc)
                order.delivered += 1

    def close(self) -> None:
        """Stop the workers (a later loop starts fresh ones)."""
        loader, self._loader, self._shape = self._loader, None, None
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None:
            iterator._shutdown_workers()  # torch's own shutdown; DataLoader has no public close

    def _stream(
        self,
        batches: Sequence[Sequence[WorkItem]],
        positions: Iterable[int],
        shape: tuple[Callable[[Sample, str], Any], int, int],
    ) -> Iterator[list[Prepared]]:
        """One batch per position, from workers of `shape` (preprocessor, workers, prefetch) started now or
        kept from a loop that ran to its end. A loop that stops early, or fails, stops the workers with it."""
        loader = self._started(shape)
        asked: deque[Sequence[WorkItem]] = deque()  # the batches sent, in order: torch delivers in order

        def feed() -> Iterator[Sequence[WorkItem]]:
            for position in positions:
                asked.append(batches[position])
                yield batches[position]

        self._feed.batches = feed()
        try:
            with CHILD_SIGNALS.waiting():
                iterator = iter(loader)  # new workers, or kept ones told to start over
            CHILD_SIGNALS.adopt_torch_handler()
            while True:
                with CHILD_SIGNALS.waiting():
                    packed = next(iterator, None)
                if packed is None:
                    return
                yield unpack_batch(asked.popleft(), packed)
        except BaseException:
            self.close()
            raise

    def _started(self, shape: tuple[Callable[[Sample, str], Any], int, int]) -> Any:
        """The loader whose persistent workers prepare with `shape`'s preprocessor, `shape`'s number of
        workers, each its prefetch batches ahead (the running one when its shape is equal, else new)."""
        from torch.utils.data import DataLoader

        preprocess, workers, prefetch = shape
        if not _equal(self._shape, shape):
            self.close()
            self._loader = DataLoader(
                BatchDataset(preprocess),  # type: ignore[arg-type]
                batch_size=None,
                sampler=self._feed,
                num_workers=workers,
                collate_fn=pack_batch,
                prefetch_factor=prefetch,
                timeout=self.timeout_s,
                worker_init_fn=partial(_die_with_rank, os.getpid()),
                persistent_workers=True,
                in_order=True,  # `_stream` pairs each result with the batch sent in that place
            )
            self._shape = shape
        return self._loader

    def _prepared_alone(
        self, batch: Sequence[WorkItem], preprocess: Callable[[Sample, str], Any], exc: RuntimeError
    ) -> list[Prepared]:
        """A batch prepared by a worker of its own; preprocessing errors once it stops its own loader (the
        worker dies or hangs) `TRIES_PER_BATCH` times. `exc` is the failure that sent it here."""
        for _ in range(TRIES_PER_BATCH):
            try:
                with BatchPreparer(1, self.timeout_s) as alone:
                    for prepared in alone._stream([batch], [0], (preprocess, 1, 1)):
                        return prepared
            except RuntimeError as again:
                if not str(again).startswith(LOADER_FAILURES):
                    raise
                exc = again
        reason = f"preprocessing failed: a worker preparing this batch died or hung ({exc})"
        return [Prepared(item, error=reason) for item in batch]


class ChildSignals:
    """When a DataLoader worker dies, torch raises its error from a SIGCHLD handler wherever the rank's
    main thread is: inside generate (a good batch recorded as failed), a part-file append, a merge between
    tasks. And a wait that began after the signal went by is only ended by the loader's timeout (600 s by
    default). So torch's handler is installed only while the rank waits on a loader; a SIGCHLD that comes
    between waits is noted and raised again as the next wait begins, where torch's handler reports a dead
    worker of its own (and ignores any other child). Signal handlers belong to the process, so there is one
    of these per process (`CHILD_SIGNALS`); outside the main thread torch installs none and this does
    nothing."""

    def __init__(self) -> None:
        self.torch_handler: Any = None
        self.missed = False

    def adopt_torch_handler(self) -> None:
        """After a loader started: if torch just installed its handler, keep it for the waits only."""
        current = signal.getsignal(signal.SIGCHLD)
        if _in_main_thread() and callable(current) and current != self._note:
            self.torch_handler = current
            signal.signal(signal.SIGCHLD, self._note)

    def _note(self, signum: int, frame: Any) -> None:
        self.missed = True

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a wait on a loader: torch's handler, fed the SIGCHLD missed since the last wait."""
        if self.torch_handler is None or not _in_main_thread():
            yield
            return
        signal.signal(signal.SIGCHLD, self.torch_handler)
        try:
            if self.missed:
                self.missed = False
                signal.raise_signal(signal.SIGCHLD)  # torch's handler raises here if its worker died
            yield
        finally:
            signal.signal(signal.SIGCHLD, self._note)


CHILD_SIGNALS = ChildSignals()


def _equal(kept: Any, wanted: Any) -> bool:
    """`kept == wanted`, False when the comparison cannot answer (a plugin's preprocessor holding arrays)."""
    try:
        return bool(kept == wanted)
    except Exception:
        return False


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def iterate_batches(
    items: Sequence[WorkItem],
    preprocess: Callable[[Sample, str], Any],
    batch_size: int,
    num_workers: int,
    timeout_s: float = DEFAULT_PREPROCESS_TIMEOUT_S,
) -> Iterator[list[Prepared]]:
    """Batches of `batch_size` prepared items in the given order, by workers of their own (see
    `BatchPreparer.batches`)."""
    with BatchPreparer(num_workers, timeout_s) as preparer:
        yield from preparer.batches(cut(items, batch_size), preprocess)


def _die_with_rank(rank_pid: int, worker_id: int) -> None:
    """DataLoader `worker_init_fn`: the worker is killed when its rank dies, even by SIGKILL."""
    del worker_id
    die_with_parent(rank_pid)
