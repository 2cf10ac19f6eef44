"""An exclusive claim on one model/task results folder, so two runs never plan, append or merge together.

A run takes `run.lock`; a `--shard i/N` job takes `shard<i>-of<N>.lock` (shard jobs of one task share the
folder by design, but none of them runs beside a whole run). Locks live beside the run folder, in
`<model>/.locks/<task>/`, so `--fresh` can move the folder aside while holding its lock. A lock whose holder
is gone (same host, process dead) is stale and taken over; one held from another host is reported with its
holder (on a shared filesystem monkeyeval cannot tell whether that process still lives: delete the file
once you are sure it does not). The lock appears by a hard link, atomic on local and NFS filesystems.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from monkeyeval.core import jsontext
from monkeyeval.core.errors import UserError

RUN_LOCK = "run"


class RunLocked(UserError, RuntimeError):
    """The results folder is held by another run; the message names it."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock."""

    pid: int
    host: str
    started: str

    def describe(self) -> str:
        """`pid 123 on host, since <UTC time>`."""
        return f"pid {self.pid} on {self.host}, since {self.started}"

    def is_alive(self) -> bool:
        """False only when the holder ran on this host and its process is gone."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # another user's live process
        return not _is_zombie(self.pid)


def lock_dir(run_dir: Path) -> Path:
    """Where the locks of a run folder live (beside it, so --fresh can move the folder)."""
    return run_dir.parent / ".locks" / run_dir.name


def read_holder(path: Path) -> LockHolder | None:
    """The holder written in a lock file; None when it vanished or is unreadable (being written)."""
    try:
        data = jsontext.loads(path.read_text(encoding="utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class RunLock:
    """Context manager: hold `<name>.lock` for a run folder, refusing when a conflicting run holds it."""

    def __init__(self, run_dir: Path, name: str = RUN_LOCK) -> None:
        self.run_dir = Path(run_dir)
        self.name = name
        self.path = lock_dir(self.run_dir) / f"{name}.lock"
        self.holder = LockHolder(os.getpid(), socket.gethostname(), _utc_now())
        self.held = False

    def acquire(self) -> None:
        """Take the lock, or raise RunLocked naming the holder of this or a conflicting lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._create()
        try:
            self._refuse_live(self._conflicting())
        except BaseException:
            self.release()
            raise

    def check_free(self) -> None:
        """Before `acquire`: RunLocked when a live process holds this lock or a conflicting one (nothing is
        taken)."""
        if self.path.parent.is_dir():
            self._refuse_live([self.path, *self._conflicting()])

    def _refuse_live(self, paths: list[Path]) -> None:
        """RunLocked naming the first of `paths` held by a live process."""
        for path in paths:
            holder = read_holder(path)
            if holder is not None and holder.is_alive():
                raise self._refusal(path, holder)

    def release(self) -> None:
        """Give the lock back (only if this process holds it)."""
        if self.held and read_holder(self.path) == self.holder:
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()

    def _create(self) -> None:
        """Write the holder to a temp file, then hard-link it into place: the lock appears complete or not."""
        temp = self.path.with_name(f".{self.path.name}.{self.holder.pid}.tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(asdict(self.holder), handle)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            for _ in range(2):  # a second try after removing a stale lock
                try:
                    os.link(temp, self.path)
                except FileExistsError:
                    holder = read_holder(self.path)
                    if holder is not None and holder.is_alive():
                        raise self._refusal(self.path, holder) from None
                    self.path.unlink(missing_ok=True)  # its process is gone (or the file is damaged)
                    continue
                self.held = True
                return
        finally:
            temp.unlink(missing_ok=True)
        raise RunLocked(f"{self.path}: could not take the run lock (another run keeps creating it)")

    def _conflicting(self) -> list[Path]:
        """A whole run conflicts with every other lock; a shard job with the whole run's."""
        others = [p for p in self.path.parent.glob("*.lock") if p != self.path]
        if self.name == RUN_LOCK:
            return others
        return [p for p in others if p.stem == RUN_LOCK]

    def _refusal(self, path: Path, holder: LockHolder) -> RunLocked:
        what = "a run" if path.stem == RUN_LOCK else f"shard job {path.stem}"
        return RunLocked(
            f"{self.run_dir} is in use by {what} ({holder.describe()}; lock {path}). Wait for it to finish, "
            "or write elsewhere with --results DIR / --model-name NAME. If that process is gone (another "
            "host, a crashed node), delete the lock file and re-run."
        )


def _is_zombie(pid: int) -> bool:
    """True when `pid` has exited and only waits to be reaped (Linux /proc; False where unknown)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
