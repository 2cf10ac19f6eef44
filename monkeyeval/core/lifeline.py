"""A torchrun worker dies with its launcher (Linux): the kernel's parent-death signal, set as early as can be.

torchrun starts its workers in their own sessions, so killing the launcher's process group does not reach
them. `die_with_launcher` asks the kernel to SIGTERM this process when its parent dies, even by SIGKILL. A
launcher killed before that request (while the worker is still importing) is caught by comparing the
parent with the launcher's pid: `monkeyeval run --nproc` records it in `MONKEYEVAL_LAUNCHER_PID`; under a
plain torchrun, a parent of pid 1 (reparented to init) is the sign. This module imports nothing heavy, so
`python -m monkeyeval` calls it before anything else loads.
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
    """Have the kernel SIGTERM this worker when its launcher dies; stop now if it is already gone."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    parent = os.getppid()
    launcher = os.environ.get(LAUNCHER_PID_ENV, "")
    if parent == 1 or (launcher.isdigit() and parent != int(launcher)):
        os.kill(os.getpid(), signal.SIGTERM)  # the launcher died before the request took effect
