"""Throughput: the per-process meter on real records, and its aggregation over ranks and attempts at merge."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions
from monkeyeval.runner.data import WorkItem
from monkeyeval.runner.engine import predict
from monkeyeval.runner.parts import PartAppender, PartId, mark_done, part_path, read_part_records, write_meta
from monkeyeval.runner.throughput import ThroughputMeter, run_throughput
from runner.fake_adapter import FakeAdapter
from runner.support import TinyTask
from runner.test_runner_run import invoke, run_fake, scores

SETTINGS = DecodeSettings(max_new_tokens=8)


def work_items(task: TinyTask) -> list[WorkItem]:
    """The tiny task's samples as the runner hands them to the engine."""
    items = []
    for index, line in enumerate(task.jsonl.read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        sample = Sample(
            index=index,
            id=row["question_id"],
            question=row["question"],
            answers=[row["answer"]],
            image=row["image"],
            image_path=task.image_root / row["image"],
        )
        prompt = f"Q: {row['question']}"
        items.append(WorkItem(sample, prompt, f"<fake>{prompt}"))
    return items


def run_engine(
    adapter: FakeAdapter, items: Sequence[WorkItem], meter: ThroughputMeter | None
) -> list[PredictionRecord]:
    return [record for batch in predict(adapter, items, SETTINGS, 3, 0, meter=meter) for record in batch]


class NoLengthAdapter(FakeAdapter):
    """An adapter that cannot say how long a prompt is."""

    def input_tokens(self, payload: Any) -> int | None:
        return None


def test_meter_counts_real_records_and_leaves_them_unchanged(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path
) -> None:
    task = tiny_task(n=8, corrupt=(2,))
    items = work_items(task)
    adapter = FakeAdapter.load(LoadOptions(str(fake_ckpt)))
    meter = ThroughputMeter(device="cpu")
    metered = run_engine(adapter, items, meter)
    assert [r.to_json() for r in metered] == [r.to_json() for r in run_engine(adapter, items, None)]
    assert metered[2].error is not None and metered[2].n_new_tokens is None  # the corrupt image
    assert meter.samples == 8
    # the fake model's token count is its answer's length; the errored sample generated nothing
    assert meter.generated_tokens == sum(len(r.prediction) for r in metered if r.error is None) > 0
    # prefill: the fake counts one token per prompt character, for the samples that reached the model
    assert meter.prefill_tokens == sum(len(item.prompt) for item in items if item.sample.index != 2)


def test_prefill_is_unknown_when_the_adapter_cannot_say(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path
) -> None:
    meter = ThroughputMeter(device="cpu")
    records = run_engine(NoLengthAdapter.load(LoadOptions(str(fake_ckpt))), work_items(tiny_task(n=4)), meter)
    assert meter.samples == len(records) == 4 and meter.prefill_tokens is None
    assert meter.to_json()["prefill_tokens"] is None  # unknown, not 0


def test_reading_has_host_memory_no_cuda_on_cpu_and_a_device_name() -> None:
    meter = ThroughputMeter(device="cpu")
    reading = meter.to_json()
    assert reading["finished_at"] >= reading["started_at"] > 1.6e9  # unix time, comparable between ranks
    assert reading["peak_device_memory_bytes"] is None
    assert reading["device"].startswith("cpu")
    rss = reading["peak_host_rss_bytes"]
    assert rss > 16 * 2**20  # a Python process with torch and PIL loaded holds well over 16 MiB
    status = Path("/proc/self/status")
    if status.is_file():  # Linux: ru_maxrss is the kernel's VmHWM, reported in KiB (the meter gives bytes)
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
        high_water = int(line.split()[1]) * 1024
        assert high_water / 2 <= rss <= high_water
    assert meter.to_json() == reading  # finishing is done once


def test_cuda_device_without_cuda_in_use_reports_no_device_memory() -> None:
    reading = ThroughputMeter(device="cuda:0").to_json()
    assert reading["peak_device_memory_bytes"] is None and reading["device"] == "cuda:0"


# ------------------------------------------------------------------------------ aggregation at merge


def reading(start: float, end: float, samples: int, tokens: int, **extra: Any) -> dict[str, Any]:
    return {
        "started_at": start,
        "finished_at": end,
        "samples": samples,
        "generated_tokens": tokens,
        "prefill_tokens": extra.get("prefill", samples * 100),
        "peak_device_memory_bytes": extra.get("device_memory", 2**30),
        "peak_host_rss_bytes": extra.get("rss", 2**29),
        "device": extra.get("device", "NVIDIA H100 80GB HBM3"),
    }


def record(index: int, error: str | None = None, tokens: int = 5) -> dict[str, Any]:
    return PredictionRecord(
        index=index,
        id=f"q{index}",
        prompt=f"Q: word {index}?",
        prediction="" if error else "x" * tokens,
        answers=["gold"],
        error=error,
        n_new_tokens=None if error else tokens,
    ).to_json()


def write_part(
    run_dir: Path, part: PartId, indices: Sequence[int], throughput: dict[str, Any] | None, **row: Any
) -> None:
    """A part file, its meta (as share.py writes it at done) and its done marker, in the real layout."""
    path = part_path(run_dir, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"rank": part.rank, "world_size": part.world_size, "batch_size": 4}
    meta |= {"attempt": part.attempt, "sharded_jobs": part.attempt is None}
    write_meta(path, meta if throughput is None else {**meta, "throughput": throughput})
    with PartAppender(path) as writer:
        writer.append_many(record(index, **row) for index in indices)
    if throughput is not None:
        mark_done(path)


def throughput_of(run_dir: Path) -> tuple[Any, str]:
    return run_throughput(run_dir, read_part_records(run_dir))


def test_two_ranks_and_a_resumed_attempt_are_summed(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_part(run_dir, PartId(0, 2, 1), range(0, 4), reading(100.0, 110.0, 4, 20, device_memory=3 * 2**30))
    write_part(run_dir, PartId(1, 2, 1), range(4, 8), reading(101.0, 112.0, 4, 20, rss=2**31))
    write_part(run_dir, PartId(0, 1, 2), range(8, 10), reading(200.0, 203.0, 2, 10, prefill=7))
    result, note = throughput_of(run_dir)
    assert note == ""
    assert result.wall_s == pytest.approx(15.0)  # attempt 1: 112 - 100 (its ranks' span); attempt 2: 3
    assert (result.samples, result.generated_tokens, result.prefill_tokens) == (10, 50, 807)
    assert result.samples_per_s == pytest.approx(10 / 15, rel=1e-5)
    assert result.generated_tokens_per_s == pytest.approx(50 / 15, rel=1e-5)
    assert result.peak_device_memory_bytes == 3 * 2**30 and result.peak_host_rss_bytes == 2**31
    assert (result.device, result.device_count, result.attempts) == ("NVIDIA H100 80GB HBM3", 2, 2)
    assert result.unmetered_attempts == 0


def test_ranks_on_different_devices_list_every_name(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_part(run_dir, PartId(0, 2, 1), range(0, 2), reading(10.0, 12.0, 2, 4, device="NVIDIA A100"))
    write_part(run_dir, PartId(1, 2, 1), range(2, 4), reading(10.0, 14.0, 2, 4, prefill=None))
    result, _ = throughput_of(run_dir)
    assert result.device == ("NVIDIA A100", "NVIDIA H100 80GB HBM3") and result.device_count == 2
    assert result.prefill_tokens is None  # one rank could not count its prompts: unknown, not a partial sum
    assert result.to_json()["device"] == ["NVIDIA A100", "NVIDIA H100 80GB HBM3"]


def test_an_attempt_whose_records_were_all_retried_does_not_count(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    failed = "generation failed: RuntimeError: out of memory"
    write_part(run_dir, PartId(0, 1, 1), range(0, 3), reading(0.0, 1.0, 3, 0), error=failed)
    write_part(run_dir, PartId(0, 1, 2), range(0, 3), reading(50.0, 56.0, 3, 15))
    result, note = throughput_of(run_dir)
    assert (result.attempts, result.samples, result.wall_s, note) == (1, 3, 6.0, "")


def test_parts_without_readings_give_no_throughput_and_say_why(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_part(run_dir, PartId(0, 1, 1), range(0, 3), None)  # an older monkeyeval, or killed
    result, note = throughput_of(run_dir)
    assert result is None and "attempt 1 recorded no throughput" in note


def test_an_interrupted_attempt_is_left_out_and_counted(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_part(run_dir, PartId(0, 1, 1), range(0, 3), None)  # killed: its meta never got a reading
    write_part(run_dir, PartId(0, 1, 2), range(3, 6), reading(20.0, 23.0, 3, 15))
    result, note = throughput_of(run_dir)
    assert (result.attempts, result.unmetered_attempts, result.samples, result.wall_s) == (1, 1, 3, 3.0)
    assert "attempt 1 recorded no throughput" in note and "left out" in note


def test_shard_jobs_form_one_group(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_part(run_dir, PartId(0, 2), range(0, 2), reading(0.0, 4.0, 2, 10))
    write_part(run_dir, PartId(1, 2), range(2, 4), reading(1.0, 5.0, 2, 10))
    result, _ = throughput_of(run_dir)
    assert (result.attempts, result.device_count, result.wall_s, result.samples) == (1, 2, 5.0, 4)


def test_merge_writes_the_throughput_into_scores_json(
    tiny_task: Callable[..., TinyTask], fake_ckpt: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    assert run_fake(tiny_task(n=6), fake_ckpt, results, "--batch-size", "2")[0] == 0
    run_dir = results / "fake" / "tiny"
    predictions = (run_dir / "predictions.jsonl").read_bytes()
    (meta_file,) = (run_dir / "parts").glob("*.meta.json")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    meta["throughput"] = reading(1000.0, 1004.0, 6, 30, device="cpu (Test CPU)", device_memory=None)
    meta_file.write_text(json.dumps(meta), encoding="utf-8")
    code, out = invoke("merge", str(run_dir))
    assert code == 0, out
    assert (run_dir / "predictions.jsonl").read_bytes() == predictions  # timing never reaches predictions
    written = scores(tmp_path / "results")
    assert written["throughput"] == {
        "samples": 6,
        "wall_s": 4.0,
        "samples_per_s": 1.5,
        "generated_tokens": 30,
        "generated_tokens_per_s": 7.5,
        "prefill_tokens": 600,
        "peak_device_memory_bytes": None,
        "peak_host_rss_bytes": 2**29,
        "device": "cpu (Test CPU)",
        "device_count": 1,
        "attempts": 1,
        "unmetered_attempts": 0,
    }
    assert written["throughput_note"] is None
