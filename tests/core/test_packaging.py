"""The built wheel ships the built-in task YAMLs, metric plugins and demo checkpoint, and runs the demo from
any folder (not only a checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from monkeyeval import __version__
from monkeyeval.core.paths import builtin_dir, expand_checkpoint_alias

REPO = Path(__file__).resolve().parents[2]
BUILTIN_KINDS = ("tasks", "metrics", "demo")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
    )
    (built,) = out.glob("monkeyeval-*.whl")
    return built


def _repo_files(kind: str) -> set[str]:
    return {
        str(p.relative_to(REPO / kind))
        for p in (REPO / kind).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.slow
def test_wheel_contains_builtin_tasks_metrics_and_demo_checkpoint(wheel: Path) -> None:
    assert wheel.name.startswith(f"monkeyeval-{__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in BUILTIN_KINDS:
        shipped = {n.split(f"monkeyeval/_builtin/{kind}/", 1)[1] for n in names if f"_builtin/{kind}/" in n}
        in_repo = _repo_files(kind)
        assert in_repo, f"no files under {kind}/"
        assert in_repo <= shipped, f"{kind} files missing from the wheel: {sorted(in_repo - shipped)[:5]}"
    assert "checkpoint/model.safetensors" in _repo_files("demo")


@pytest.mark.slow
def test_installed_wheel_runs_the_demo_from_an_unrelated_folder(wheel: Path, tmp_path: Path) -> None:
    """`pip install` the wheel (dependencies from this environment), then the README's demo from elsewhere."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def monkeyeval(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monkeyeval", *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
        )

    where = subprocess.run(
        [sys.executable, "-c", "import monkeyeval; print(monkeyeval.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site)
    assert monkeyeval("--version").stdout.strip() == f"monkeyeval {__version__}"
    run = monkeyeval("run", "--task", "demo", "--ckpt", "demo", "--limit", "4", "--num-workers", "0")
    assert run.returncode == 0, run.stderr
    assert (elsewhere / "results" / "demo__checkpoint" / "demo" / "scores.json").is_file()
    report = monkeyeval("report", "results")
    assert report.returncode == 0 and "demo__checkpoint" in report.stdout, report.stderr


def test_checkout_builtin_dirs_are_the_top_level_folders() -> None:
    for kind in BUILTIN_KINDS:
        assert builtin_dir(kind) == REPO / kind
    with pytest.raises(ValueError):
        builtin_dir("models")


def test_demo_alias_names_the_bundled_checkpoint_unless_a_local_checkpoint_is_called_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert expand_checkpoint_alias("demo") == str(REPO / "demo" / "checkpoint")
    (tmp_path / "demo").mkdir()  # a folder that is not a checkpoint does not shadow the alias
    assert expand_checkpoint_alias("demo") == str(REPO / "demo" / "checkpoint")
    (tmp_path / "demo" / "config.json").write_text("{}")
    assert expand_checkpoint_alias("demo") == "demo"
    assert expand_checkpoint_alias("echo840/Monkey") == "echo840/Monkey"
