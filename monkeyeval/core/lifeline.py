"""A torchrun worker dies with its launcher (Linux): the kernel's parent-death signal, set as early as can be.

torchrun starts its workers in their own sessions, so killing the launcher's process group does not reach
them. `die_with_launcher` asks the kernel to SIGKILL this process when its parent dies, even by SIGKILL. The
signal is SIGKILL, not SIGTERM: a worker blocked in C code (waiting in the rendezvous, say) runs no Python
handler until that call returns, and torch's launcher code catches SIGTERM, so a SIGTERMed worker was seen
waiting on after its launcher was killed. Nothing is lost by the hard stop: predictions are appended and
flushed per batch and every results write is atomic. A launcher killed before the request (while the
worker is still importing) is caught by comparing the parent with the launcher's pid: `monkeyeval run
--nproc` records it in `MONKEYEVAL_LAUNCHER_PID`; under a plain torchrun, a parent of pid 1 (reparented to
init) is the sign. This module imports nothing heavy, so `python -m monkeyeval` calls it before anything
else loads.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LAUNCHER_PID_ENV = "MONKEYEVAL_LAUNCHER_PID"
TORCHRUN_WORKER_ENV = "TORCHELASTIC_RUN_ID"  # set by torchrun for each worker it starts


def is_torchrun_worker() -> bool:
    """True in a process torchrun started."""
    return TORCHRUN_WORKER_ENV in os.environ


def die_with_launcher() -> None:
    """Have the kernel SIGKILL this worker when its launcher dies; stop now if it is already gone."""
    launcher = os.environ.get(LAUNCHER_PID_ENV, "")
    die_with_parent(int(launcher) if launcher.isdigit() else None)


def die_with_parent(expected_parent: int | None) -> None:
    """SIGKILL this process when its parent dies (Linux); stop now if the parent is already gone (reparented
    to init, or no longer `expected_parent`). Also the DataLoader workers' `worker_init_fn`: a parent-death
    request is not inherited across fork, and a worker whose rank died must not outlive it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    parent = os.getppid()
    if parent == 1 or (expected_parent is not None and parent != expected_parent):
        os.kill(os.getpid(), signal.SIGKILL)  # the parent died before the request took effect
