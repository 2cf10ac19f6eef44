"""Dynamic batch claims among the ranks of one attempt, through files in the run folder.

Every rank forms the same batch list from the broadcast plan (runner/schedule.py: most expensive first) and
walks it in order: it runs batch k once it has created `parts/claims-attemptNNNN/batch-kkkkkk`
exclusively (its rank inside, the file hard-linked into place so that it never appears empty; the file and
the folder fsynced), and skips a batch another rank created first. A rank claims its next batch only when
its loader has room for one (runner/workers.py `BatchOrder`: at most num_workers + 1 claimed batches held), so
the ranks finish within about one batch of each other, and the last batches, the cheapest, even that out.

Crash safety needs nothing new: records carry their dataset index, the next attempt's plan recomputes what
is left from the part files, and claims belong to one attempt, so a batch claimed by a killed rank whose
records never landed is simply planned again by the next attempt (in a folder of its own).

`--shard i/N` jobs keep static slices of the dataset (`plan.share_of`): the jobs of an array may never run at
the same time, and a claim pool shared by jobs that never overlap would hand the first job every batch. The
ranks inside one shard job would claim from a folder per shard and attempt (`claims_dir`), but
`request.check_request` refuses `--shard` under torchrun (a shard writes one part file), so a shard job is a
single process. A single process claims nothing and writes no claim file: all its batches are its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from monkeyeval.core.atomic import _fsync_dir
from monkeyeval.runner.distributed import DistContext
from monkeyeval.runner.parts import parts_dir
from monkeyeval.runner.sharding import ShardSpec

CLAIM_PREFIX = "batch-"


def claims_dir(run_dir: Path, attempt: int, shard: ShardSpec | None = None) -> Path:
    """parts/claims-attempt0003, or parts/claims-shard002-of008-attempt0003 for the ranks of one shard job."""
    owner = "" if shard is None else f"shard{shard.index:03d}-of{shard.count:03d}-"
    return parts_dir(run_dir) / f"claims-{owner}attempt{attempt:04d}"


def claim_name(position: int) -> str:
    """The claim file of the batch at `position` of the plan's batch list."""
    return f"{CLAIM_PREFIX}{position:06d}"


@dataclass
class ClaimPool:
    """One rank's walk over the `n_batches` batches of an attempt: `next_free` claims the next free one."""

    folder: Path
    rank: int
    n_batches: int
    _cursor: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def claim(self, position: int) -> bool:
        """Claim the batch at `position`; False when another rank (or an interrupted call of this one) did.

        The claim file appears whole: the rank is written to a temp file, which is then hard-linked to the
        claim's name (exclusive like O_CREAT|O_EXCL, and atomic on NFS too); file and folder are fsynced.
        """
        claim = self.folder / claim_name(position)
        staged = self.folder / f".{claim.name}.rank{self.rank:03d}"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            os.write(fd, f"{self.rank}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(staged, claim)
        except FileExistsError:
            return False
        finally:
            staged.unlink(missing_ok=True)
        _fsync_dir(self.folder)
        return True

    def next_free(self) -> int | None:
        """The position of the next batch this rank claimed, in list order; None once every batch is taken."""
        while self._cursor < self.n_batches:
            position = self._cursor
            taken = self.claim(position)
            self._cursor = position + 1  # only after the try: an interrupted one is tried again
            if taken:
                return position
        return None

    def mine(self) -> list[int]:
        """The positions this rank holds claims for, read back from the claim files."""
        return sorted(position for position, rank in claimed_by(self.folder).items() if rank == self.rank)


def pool_for(
    run_dir: Path, attempt: int, ctx: DistContext, shard: ShardSpec | None, n_batches: int
) -> ClaimPool | None:
    """The claim pool of this rank's attempt, or None where batches are not shared (one process, a shard)."""
    if ctx.world_size == 1 or shard is not None:
        return None
    return ClaimPool(claims_dir(run_dir, attempt), ctx.rank, n_batches)


def claimed_by(folder: Path) -> dict[int, int]:
    """position -> rank of every claim in a claims folder (for tests and post-mortems)."""
    owners = {}
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(CLAIM_PREFIX):
                text = path.read_text(encoding="ascii").strip()
                owners[int(path.name.removeprefix(CLAIM_PREFIX))] = int(text) if text else -1
    return owners
