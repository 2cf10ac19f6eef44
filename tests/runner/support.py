"""Helpers for the runner tests: tiny task folders (with bad inputs on demand) and subprocess runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = TESTS_DIR.parent
DEMO_CHECKPOINT = REPO_ROOT / "demo" / "checkpoint"

WORDS = (
    "apple",
    "river",
    "stone",
    "cloud",
    "maple",
    "tiger",
    "piano",
    "lemon",
    "ocean",
    "amber",
    "delta",
    "frost",
)


@dataclass
class TinyTask:
    """A task folder: tasks_dir holds tiny.yaml; data under tasks_dir/data."""

    tasks_dir: Path
    jsonl: Path
    image_root: Path
    name: str = "tiny"

    def args(self) -> list[str]:
        return ["--task", self.name, "--tasks-dir", str(self.tasks_dir)]


def make_tiny_task(
    root: Path,
    n: int = 12,
    *,
    corrupt: Sequence[int] = (),
    missing: Sequence[int] = (),
    escaping: Sequence[int] = (),
    malformed_after: Sequence[int] = (),
    empty: bool = False,
    max_new_tokens: int = 16,
    name: str = "tiny",
    extra_yaml: str = "",
) -> TinyTask:
    """Write a task YAML, a jsonl and PNG images; chosen samples get a corrupt/missing/escaping image."""
    from PIL import Image

    tasks_dir = root / "tasks"
    image_root = tasks_dir / "data" / "images"
    image_root.mkdir(parents=True, exist_ok=True)
    (tasks_dir / "data" / "outside.png").parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tasks_dir / "data" / "outside.png")
    lines = []
    for i in range(0 if empty else n):
        image = f"img{i:03d}.png"
        if i in corrupt:
            (image_root / image).write_bytes(b"this is not a png")
        elif i in escaping:
            image = "../outside.png"
        elif i not in missing:
            Image.new("RGB", (16, 12), (i * 20 % 256, 255 - i * 7 % 256, i * 3 % 256)).save(
                image_root / image
            )
        word = WORDS[i % len(WORDS)]
        lines.append(
            json.dumps({"question_id": f"q{i}", "image": image, "question": f"word {i}?", "answer": word})
        )
        if i in malformed_after:
            lines.append("{this is not json")
    jsonl = tasks_dir / "data" / f"{name}.jsonl"
    jsonl.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (tasks_dir / f"{name}.yaml").write_text(
        f"task: {name}\n"
        "dataset:\n"
        "  relative_to: yaml_dir\n"
        f"  jsonl: data/{name}.jsonl\n"
        "  image_root: data/images\n"
        "metric: exact_match_qwen\n"
        f"max_new_tokens: {max_new_tokens}\n"
        'prompt: "Q: {question}"\n' + extra_yaml,
        encoding="utf-8",
    )
    return TinyTask(tasks_dir, jsonl, image_root, name)


def subprocess_env() -> dict[str, str]:
    """Environment for `python -m monkeyeval` subprocesses: the fake adapter importable, one thread each."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    env.pop("MONKEYEVAL_TASKS_PATH", None)
    env.pop("MONKEYEVAL_DATA", None)
    env.pop("MONKEYEVAL_LAUNCHER_PID", None)
    return env


def monkeyeval_cmd(*args: str) -> list[str]:
    """argv for `python -m monkeyeval ...`."""
    return [sys.executable, "-m", "monkeyeval", *args]


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run monkeyeval in a subprocess and capture its output."""
    return subprocess.run(
        monkeyeval_cmd(*args),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(*args: str, torchrun_nproc: int | None = None) -> subprocess.Popen[str]:
    """Start monkeyeval (optionally under `python -m torch.distributed.run`) in its own process group."""
    argv = monkeyeval_cmd(*args)
    if torchrun_nproc is not None:
        argv = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={torchrun_nproc}",
            "-m",
            "monkeyeval",
            *args,
        ]
    return subprocess.Popen(
        argv,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def count_part_lines(run_dir: Path) -> int:
    """Complete lines over every part file of a run folder."""
    parts = run_dir / "parts"
    if not parts.is_dir():
        return 0
    return sum(p.read_bytes().count(b"\n") for p in parts.glob("*.jsonl"))


def kill_after_lines(process: subprocess.Popen[str], run_dir: Path, lines: int, timeout: float = 180) -> int:
    """SIGKILL the process group once the parts hold `lines` lines; returns the count seen at kill time."""
    import contextlib
    import os
    import signal
    import time

    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        seen = count_part_lines(run_dir)
        if seen >= lines or process.poll() is not None:
            break
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return seen
