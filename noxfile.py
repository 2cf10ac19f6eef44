"""Developer sessions. `nox -s tests` and `nox -s demo` each set up their own environment from scratch.

Every environment installs torch 2.13.0 first: on the project's machines that pin resolves to a local CPU
wheel, while an unpinned torch would pull gigabytes of CUDA packages.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

TORCH = "torch==2.13.0"
PYTHON = "3.11"


def _install(session: nox.Session, extras: str = "dev") -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite, then score/report/gate the demo task against the committed baseline."""
    _install(session)
    session.run("pytest", "-n", "2", "--dist", "loadfile", *session.posargs)
    session.run("bash", "scripts/gate_demo.sh", external=True)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Evaluate the bundled random-weight demo checkpoint on the demo task, then print the leaderboard."""
    _install(session)
    session.run("monkeyeval", "run", "--task", "demo", "--ckpt", "demo/checkpoint", "--results", "results")
    session.run("monkeyeval", "report", "results")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy over the package and the metric plugins."""
    _install(session)
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: metric throughput and runner overhead (prints figures and ratios)."""
    _install(session)
    session.run("python", "bench/bench_metrics.py")
    session.run("python", "bench/bench_runner.py")
