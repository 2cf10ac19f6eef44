"""Developer sessions. `nox -s tests` and `nox -s demo` each set up their own environment from scratch.

Every environment installs torch 2.13.0 first: on the project's machines that pin resolves to a local CPU
wheel, while an unpinned torch would pull gigabytes of CUDA packages. The `tests`, `demo`, `lint` and
`typecheck` sessions install the exact versions in requirements/constraints.txt (what CI runs with);
`tests_latest` installs the newest versions pyproject.toml allows, to see dependency drift on purpose;
`tests_floors` installs the lowest ones it declares, so the floors stay honest.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

TORCH = "torch==2.13.0"
PYTHON = "3.11"
CONSTRAINTS = "requirements/constraints.txt"
FLOORS = "requirements/floors.txt"


def _install(session: nox.Session, extras: str = "dev") -> None:
    """torch first, then monkeyeval and its dependencies at the pinned versions."""
    session.install(TORCH)
    session.install("-c", CONSTRAINTS, "-e", f".[{extras}]")


def _test(session: nox.Session) -> None:
    session.run("pytest", "-n", "2", "--dist", "loadfile", *session.posargs)
    session.run("bash", "scripts/gate_demo.sh", external=True)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite, then score/report/gate the demo task against the committed baseline."""
    _install(session)
    _test(session)


@nox.session(python=PYTHON)
def tests_latest(session: nox.Session) -> None:
    """The test suite against the newest dependency versions pyproject.toml allows (torch stays 2.13.0)."""
    session.install(TORCH)
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[dev]", TORCH)
    session.run("pip", "list", "--format", "freeze")
    _test(session)


@nox.session(python=PYTHON)
def tests_floors(session: nox.Session) -> None:
    """The test suite against the lowest versions pyproject.toml declares (requirements/floors.txt)."""
    session.install(TORCH)
    session.install("-r", FLOORS)
    session.install("-c", FLOORS, "-e", ".[dev]")
    session.run("pip", "list", "--format", "freeze")
    _test(session)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Evaluate the bundled random-weight demo checkpoint on the demo task, then print the leaderboard."""
    _install(session)
    session.run("monkeyeval", "run", "--task", "demo", "--ckpt", "demo", "--results", "results")
    session.run("monkeyeval", "report", "results")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff lint and format check (the pinned ruff, so formatting does not drift between machines)."""
    session.install("-c", CONSTRAINTS, "ruff")
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
