"""torchrun integration: rank/world from the environment, process group, per-rank device, `--nproc` relaunch.

Only one collective is ever used: rank 0 broadcasts the work plan of each task at its start (before any
sample is generated). Results are never gathered through collectives: ranks write part files and rank 0
waits for their completion markers on disk (torchrun tears every worker down when one dies, and the wait
gives up on ranks whose part files stop growing for `--rank-timeout`). `--nproc` runs torch's own launcher
inside this process, so its exit code is the failed rank's and killing it stops every rank.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from monkeyeval.core.errors import BadValue, RunFailure
from monkeyeval.core.lifeline import LAUNCHER_PID_ENV

PROCESS_GROUP_TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run: rank, world size, local rank, whether torchrun started it."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False
    local_world_size: int = 1  # ranks on this node (they share its cores)

    @property
    def is_main(self) -> bool:
        """Rank 0 (the only rank that plans, merges and prints the progress bar)."""
        return self.rank == 0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DistContext:
        """Read RANK / WORLD_SIZE / LOCAL_RANK as set by torchrun (absent: a single process)."""
        env = os.environ if environ is None else environ
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return cls()
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local, on_node = int(env.get("LOCAL_RANK", rank)), int(env.get("LOCAL_WORLD_SIZE", world))
        if world < 1 or not 0 <= rank < world:
            raise BadValue(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world}")
        return cls(rank=rank, world_size=world, local_rank=local, launched=True, local_world_size=on_node)


def pick_device(requested: str, ctx: DistContext) -> str:
    """auto -> this rank's GPU when there is one, else cpu; cuda -> cuda:<local rank>; cpu -> cpu."""
    import torch

    if requested not in ("auto", "cpu", "cuda") and not requested.startswith("cuda:"):
        raise BadValue(f"--device {requested!r}: use auto, cpu or cuda")
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return "cpu"
    if not torch.cuda.is_available():
        raise BadValue("--device cuda was requested but torch sees no GPU; use --device cpu")
    if requested.startswith("cuda:"):
        return requested
    count = torch.cuda.device_count()
    if ctx.local_rank >= count:
        raise BadValue(f"local rank {ctx.local_rank} has no GPU of its own (this machine has {count})")
    return f"cuda:{ctx.local_rank}"


def init_process_group(ctx: DistContext, device: str) -> None:
    """Join torchrun's process group: nccl when this rank runs on a GPU, gloo on CPU.

    Every collective (joining, the plan broadcast) gives up after PROCESS_GROUP_TIMEOUT (rank 0 may be
    hashing a large checkpoint meanwhile), so a rank that never arrives cannot hold the others forever.
    """
    if ctx.world_size == 1:
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=torch.device(device), timeout=PROCESS_GROUP_TIMEOUT)
    else:
        dist.init_process_group("gloo", timeout=PROCESS_GROUP_TIMEOUT)


def broadcast_from_main(ctx: DistContext, value: Any) -> Any:
    """Rank 0's `value` on every rank (picklable objects; a no-op in a single process)."""
    if ctx.world_size == 1:
        return value
    import torch.distributed as dist

    box = [value if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_from_all(ctx: DistContext, value: Any) -> list[Any] | None:
    """Every rank's `value`, in rank order, on every rank; None when no process group joins the ranks (a
    single process, or ranks simulated in one process)."""
    import torch.distributed as dist

    if ctx.world_size == 1 or not (dist.is_available() and dist.is_initialized()):
        return None
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (if any)."""
    if ctx.world_size == 1:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """The command line without `--nproc N` / `--nproc=N` (what each torchrun worker receives)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--nproc":
            skip = True
            continue
        if arg.startswith("--nproc="):
            continue
        out.append(arg)
    return out


def relaunch_with_torchrun(nproc: int, run_args: Sequence[str]) -> int:
    """Start `nproc` workers of `monkeyeval run <run_args>` through torch's own launcher, in this process.

    Returns the exit code of the first rank that failed (its own message is already printed), so a usage
    error in the workers still exits 2; a rank killed by a signal is a RunFailure (exit 3).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    launcher_args = ["--standalone", f"--nproc-per-node={nproc}", "-m", "monkeyeval", "run"]
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # we report failures below
    previous = os.environ.get(LAUNCHER_PID_ENV)
    os.environ[LAUNCHER_PID_ENV] = str(os.getpid())  # each worker checks it still has this parent
    try:
        run(parse_args([*launcher_args, *strip_nproc(run_args)]))
    except ChildFailedError as failed:
        rank, failure = failed.get_first_failure()
        if failure.exitcode > 0:
            return failure.exitcode
        raise RunFailure(
            f"rank {rank} was stopped by signal {failure.signal_name()} (pid {failure.pid}); the other ranks "
            "were stopped too. Finished batches are saved: re-run the same command to resume."
        ) from None
    finally:
        if previous is None:
            os.environ.pop(LAUNCHER_PID_ENV, None)
        else:
            os.environ[LAUNCHER_PID_ENV] = previous
    return 0
