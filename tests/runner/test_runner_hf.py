"""The hf adapter on the bundled random-weight demo checkpoint; check-invariance; dry run; the demo script."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from monkeyeval.cli import build_app
from runner.fake_adapter import SPEC
from runner.support import DEMO_CHECKPOINT, REPO_ROOT, TinyTask

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(build_app(), list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_demo_task_end_to_end(tmp_path: Path):
    code, out = invoke("run", "--task", "demo", "--ckpt", str(DEMO_CHECKPOINT), "--results", str(tmp_path))
    assert code == 0, out
    assert "anls_docvqa" in out and "demo: results in" in out
    run_dir = tmp_path / "demo__checkpoint" / "demo"
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 36 and [r["index"] for r in rows] == list(range(36))
    assert rows[0]["prompt"] == "USER: <image>\nWhat word is written in the image?\nASSISTANT:"
    assert all(r["error"] is None and 1 <= r["n_new_tokens"] <= 20 for r in rows)
    assert any(r["truncated"] for r in rows) and not all(r["truncated"] for r in rows)
    assert all(r["n_new_tokens"] == 20 for r in rows if r["truncated"])
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["n"] == 36 and scores["n_truncated"] == sum(r["truncated"] for r in rows)
    model = scores["fingerprint"]["model"]
    assert model["family"] == "hf" and model["dtype"] == "float32" and len(model["checkpoint_sha256"]) == 64
    assert model["model_class"] == "LlavaForConditionalGeneration" and model["trust_remote_code"] is False


def test_dry_run_loads_no_weights_and_remote_code_needs_the_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    import transformers

    def no_weights(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the dry run must not load weights")

    seen: list[bool] = []
    real = transformers.AutoProcessor.from_pretrained

    def record(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["trust_remote_code"])
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", no_weights)
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", record)
    base = ("run", "--task", "demo", "--ckpt", str(DEMO_CHECKPOINT), "--results", str(tmp_path), "--dry-run")
    code, out = invoke(*base)
    assert code == 0, out
    assert "36 samples, 0 with image problems" in out and "What word is written in the image?" in out
    code, out = invoke(*base, "--trust-remote-code")
    assert code == 0, out
    assert seen == [False, True]
    assert not any(tmp_path.iterdir())


def test_check_invariance_lists_batch_dependent_answers(tiny_task: Callable[..., TinyTask], fake_ckpt: Path):
    task = tiny_task(n=9)
    base = (
        "check-invariance",
        *task.args(),
        "--ckpt",
        str(fake_ckpt),
        "--model",
        SPEC,
        "--limit",
        "9",
        "--batch-size",
        "4",
        "--num-workers",
        "0",
    )
    code, out = invoke(*base, "--model-option", "batch_sensitive=true")
    assert code == 0, out
    assert "3 of 9 answers change between batch size 1 and 4" in out
    assert "'apple'" in out and "'apple batched'" in out  # sample 0 at batch 1 vs batch 4
    code, out = invoke(*base, "--model-option", "batch_sensitive=true", "--fail-on-change")
    assert code == 1
    code, out = invoke(*base, "--fail-on-change")
    assert code == 0 and "0 of 9 answers change" in out


def test_check_invariance_on_the_demo_model():
    code, out = invoke(
        "check-invariance",
        "--task",
        "demo",
        "--ckpt",
        str(DEMO_CHECKPOINT),
        "--limit",
        "12",
        "--batch-size",
        "6",
        "--num-workers",
        "0",
    )
    assert code == 0, out
    assert "0 of 12 answers change between batch size 1 and 6" in out


@pytest.mark.slow
def test_demo_checkpoint_script_reproduces_the_committed_checkpoint(tmp_path: Path):
    out = tmp_path / "ckpt"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "make_demo_checkpoint.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    committed = sorted(p.name for p in DEMO_CHECKPOINT.iterdir())
    assert sorted(p.name for p in out.iterdir()) == committed
    for name in committed:
        assert (out / name).read_bytes() == (DEMO_CHECKPOINT / name).read_bytes(), name
    assert sum(p.stat().st_size for p in DEMO_CHECKPOINT.iterdir()) < 5 * 1024 * 1024
    assert "RANDOM WEIGHTS" in (DEMO_CHECKPOINT / "README.md").read_text()
