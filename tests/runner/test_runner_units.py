"""Unit tests: sharding, torchrun environment, part files, resume planning, registry, hf helpers, progress."""

from __future__ import annotations

import io
import json
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from monkeyeval.core.atomic import JsonlAppender
from monkeyeval.core.errors import RunFailure
from monkeyeval.core.types import PredictionRecord, Sample
from monkeyeval.models.hf import count_new_tokens, resolve_dtype
from monkeyeval.models.hf_processors import prompt_lengths
from monkeyeval.models.registry import AdapterError, AdapterRegistry
from monkeyeval.runner.distributed import DistContext, strip_nproc
from monkeyeval.runner.parts import (
    PartId,
    PartsError,
    mark_done,
    next_attempt,
    part_path,
    read_part_records,
    write_manifest,
)
from monkeyeval.runner.plan import Plan
from monkeyeval.runner.progress import Progress
from monkeyeval.runner.request import task_model_options
from monkeyeval.runner.resume import ResumeRefused, decoding_fingerprint, move_aside, plan_resume
from monkeyeval.runner.sharding import ShardSpec, contiguous_shard, shard_bounds
from monkeyeval.runner.share import wait_for_ranks
from monkeyeval.tasks.loader import load_task_file, resolve_data_root
from runner.fake_adapter import SPEC, FakeAdapter
from runner.support import REPO_ROOT


@pytest.mark.parametrize("total", [0, 1, 5, 7, 16, 101])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_are_contiguous_balanced_and_cover_everything(total: int, world: int):
    items = list(range(total))
    shards = [contiguous_shard(items, rank, world) for rank in range(world)]
    assert [x for shard in shards for x in shard] == items
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    assert shard_bounds(total, world - 1, world)[1] == total


def test_shard_spec_parsing():
    assert ShardSpec.parse("2/5") == ShardSpec(2, 5)
    for bad in ("5/5", "-1/3", "a/b", "3", "0/0"):
        with pytest.raises(ValueError, match="i/N"):
            ShardSpec.parse(bad)


def test_dist_context_from_torchrun_env():
    assert DistContext.from_env({}) == DistContext()
    ctx = DistContext.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.launched, ctx.is_main) == (3, 4, 1, True, False)
    with pytest.raises(ValueError, match="inconsistent"):
        DistContext.from_env({"RANK": "4", "WORLD_SIZE": "4"})


def test_strip_nproc_keeps_everything_else():
    args = ["--task", "demo", "--nproc", "4", "--ckpt", "x", "--nproc=2", "--limit", "3"]
    assert strip_nproc(args) == ["--task", "demo", "--ckpt", "x", "--limit", "3"]


def _record(index: int, prompt: str = "p") -> PredictionRecord:
    return PredictionRecord(index=index, id=f"q{index}", prompt=prompt, prediction=f"a{index}", answers=["x"])


def _sample(index: int) -> Sample:
    return Sample(index=index, id=f"q{index}", question="?", answers=["x"], image="i.png", image_path=None)


def test_part_names_never_collide_across_attempts_and_world_sizes(tmp_path: Path):
    names = {
        PartId(0, 1, 1).filename,
        PartId(0, 2, 2).filename,
        PartId(1, 2, 2).filename,
        PartId(0, 2, 3).filename,
        PartId(0, 2, None).filename,
        PartId(1, 2, None).filename,
    }
    assert len(names) == 6
    assert next_attempt(tmp_path) == 1
    part_path(tmp_path, PartId(0, 2, 7)).parent.mkdir(parents=True)
    part_path(tmp_path, PartId(0, 2, 7)).write_text("")
    assert next_attempt(tmp_path) == 8


def test_part_records_ignore_torn_lines_and_reject_conflicts(tmp_path: Path):
    first = part_path(tmp_path, PartId(0, 1, 1))
    with JsonlAppender(first) as writer:
        writer.append_many(_record(i).to_json() for i in range(3))
    with open(first, "a", encoding="utf-8") as handle:
        handle.write('{"index": 3, "id": "q3"')  # killed mid-write
    second = part_path(tmp_path, PartId(0, 1, 2))
    with JsonlAppender(second) as writer:
        writer.append_many([_record(2).to_json(), _record(4).to_json()])  # 2 again, same content
    assert sorted(read_part_records(tmp_path)) == [0, 1, 2, 4]
    with JsonlAppender(part_path(tmp_path, PartId(0, 1, 3))) as writer:
        writer.append_many([_record(1, prompt="other prompt").to_json()])
    with pytest.raises(PartsError, match="disagrees"):
        read_part_records(tmp_path)


def test_plan_resume_and_its_refusals(tmp_path: Path):
    samples = [_sample(i) for i in range(5)]
    texts = ["p"] * 5
    fp = decoding_fingerprint(
        {"family": "x", "checkpoint": "/a", "checkpoint_sha256": "h"}, 10, {"profile": "p"}, "j"
    )
    assert plan_resume(tmp_path, samples, texts, fp).todo == [0, 1, 2, 3, 4]
    write_manifest(tmp_path, {"decoding": fp})
    with JsonlAppender(part_path(tmp_path, PartId(0, 1, 1))) as writer:
        writer.append_many([_record(1).to_json(), _record(3).to_json(), _record(9).to_json()])
    plan = plan_resume(tmp_path, samples, texts, fp)
    assert (sorted(plan.done), plan.todo) == ([1, 3], [0, 2, 4])
    moved_ckpt = decoding_fingerprint(
        {"family": "x", "checkpoint": "/b", "checkpoint_sha256": "h"}, 10, {"profile": "p"}, "j"
    )
    assert plan_resume(tmp_path, samples, texts, moved_ckpt).todo == [0, 2, 4]  # path alone does not block
    other = decoding_fingerprint(
        {"family": "x", "checkpoint_sha256": "h", "dtype": "bf16"}, 10, {"profile": "p"}, "j"
    )
    with pytest.raises(ResumeRefused, match=r"model.dtype: None -> 'bf16'"):
        plan_resume(tmp_path, samples, texts, other)
    with pytest.raises(ResumeRefused, match="prompt"):
        plan_resume(tmp_path, samples, ["changed"] * 5, fp)
    moved = move_aside(tmp_path)
    assert moved is not None and moved.name.startswith(tmp_path.name + ".old-") and not tmp_path.exists()


def test_results_without_manifest_are_not_mixed(tmp_path: Path):
    (tmp_path / "predictions.jsonl").write_text("{}\n")
    with pytest.raises(ResumeRefused, match="not written by `monkeyeval run`"):
        plan_resume(tmp_path, [_sample(0)], ["p"], {})


def test_registry_detection_and_errors(tmp_path: Path):
    registry = AdapterRegistry.discover(extra={"fake": SPEC})
    assert {"hf", "replay", "monkey", "textmonkey", "minimonkey", "fake"} <= set(registry.families())
    assert registry.get("fake") is FakeAdapter and registry.get(SPEC) is FakeAdapter
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "fake_vlm"}))
    assert registry.detect(str(ckpt)) == "fake"
    (ckpt / "config.json").write_text(
        json.dumps({"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"]})
    )
    assert registry.detect(str(ckpt)) == "hf"
    (ckpt / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(AdapterError, match=r"cannot tell the model family.*model_type='bert'.*--model"):
        registry.detect(str(ckpt))
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("")
    assert registry.detect(str(predictions)) == "replay"
    with pytest.raises(AdapterError, match=r"unknown model family 'nope'.*hf"):
        registry.get("nope")
    broken = AdapterRegistry({"broken": "no_such_module_xyz:Adapter"})
    with pytest.raises(AdapterError, match="cannot be imported"):
        broken.get("broken")


def test_prompt_lengths_and_token_counting():
    padded = {
        "input_ids": torch.tensor([[5, 6, 7], [0, 0, 8]]),
        "attention_mask": torch.tensor([[1, 1, 1], [0, 0, 1]]),
    }
    assert prompt_lengths(padded) == [3, 1]
    assert prompt_lengths({"input_ids": torch.tensor([[5, 6], [7, 8]])}) == [2, 2]
    assert count_new_tokens([4, 9, 2, 0, 0], {2}, 5) == (3, False)
    assert count_new_tokens([4, 9, 3], {2}, 3) == (3, True)
    assert count_new_tokens([4, 9], {2}, 3) == (2, False)
    assert resolve_dtype("auto", "cpu", "bfloat16") == torch.float32
    assert resolve_dtype("auto", "cuda:0", "bfloat16") == torch.bfloat16
    assert resolve_dtype("fp16", "cpu", None) == torch.float16


def test_progress_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress("demo", 10, stream=stream, log_every_s=0.0, already_done=4)
    progress.advance(6, n_errors=1)
    progress.close()
    text = stream.getvalue()
    assert "[demo] 6/10 samples (+4 from earlier runs)" in text and "samples/s" in text and "errors 1" in text
    silent = io.StringIO()
    other_rank = Progress("demo", 10, enabled=False, stream=silent, log_every_s=0.0)
    other_rank.advance(5)
    other_rank.close()
    assert silent.getvalue() == ""


def test_worker_tensor_transport_round_trips():
    from monkeyeval.runner.data import pack_tensors, unpack_tensors

    payload: dict[str, Any] = {
        "ids": torch.tensor([[1, 2, 3]]),
        "pixels": torch.randn(1, 3, 4, 4, dtype=torch.bfloat16),
        "nested": [torch.ones(2, dtype=torch.float16), "text", 7],
    }
    packed = pack_tensors(payload)
    assert not any(
        isinstance(v, torch.Tensor) for v in (packed["ids"], packed["pixels"], packed["nested"][0])
    )
    back = unpack_tensors(pickle.loads(pickle.dumps(packed)))
    assert torch.equal(back["ids"], payload["ids"])
    assert back["pixels"].dtype == torch.bfloat16 and torch.equal(back["pixels"], payload["pixels"])
    assert back["nested"][0].dtype == torch.float16 and back["nested"][1:] == ["text", 7]


@dataclass(frozen=True)
class _Row:
    features: dict[str, Any]
    row: int


def test_worker_transport_keeps_large_tensors_for_shared_memory_and_shared_objects_shared():
    from monkeyeval.runner.data import SHARED_MEMORY_MIN_BYTES, PackedTensor, pack_tensors, unpack_tensors

    large = torch.zeros(SHARED_MEMORY_MIN_BYTES // 2, dtype=torch.bfloat16)  # exactly the threshold
    small = torch.arange(SHARED_MEMORY_MIN_BYTES // 8 - 1)  # one int64 under it
    features = {"large": large, "small": small}
    rows = [_Row(features, 0), _Row(features, 1)]
    memo: dict[int, Any] = {}
    packed = [pack_tensors(row, memo) for row in rows]
    assert isinstance(packed[0].features["large"], torch.Tensor)  # torch's shared-memory transport
    assert isinstance(packed[0].features["small"], PackedTensor)
    assert packed[0].features is packed[1].features and [row.row for row in packed] == [0, 1]
    received = pickle.loads(pickle.dumps(packed))
    memo = {}
    back = [unpack_tensors(row, memo) for row in received]
    assert back[0].features is back[1].features and isinstance(back[0], _Row)
    assert torch.equal(back[0].features["small"], small) and torch.equal(back[1].features["large"], large)
    assert packed[0].features["large"].is_shared()  # moved in the worker: the trip passes a descriptor


def test_a_large_tensor_travels_as_bytes_when_shared_memory_is_short(monkeypatch: pytest.MonkeyPatch):
    from monkeyeval.runner.data import SHARED_MEMORY_MIN_BYTES, PackedTensor, pack_tensors, unpack_tensors

    def full(self: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("unable to allocate shared memory(shm) for file </torch_1_2>: No space left")

    monkeypatch.setattr(torch.Tensor, "share_memory_", full)
    large = torch.randn(SHARED_MEMORY_MIN_BYTES // 2, dtype=torch.bfloat16)
    packed = pack_tensors({"pixels": large})
    assert isinstance(packed["pixels"], PackedTensor)
    back = unpack_tensors(pickle.loads(pickle.dumps(packed)))
    assert back["pixels"].dtype == torch.bfloat16 and torch.equal(back["pixels"], large)


def test_entry_point_adapters_are_registered_but_cannot_shadow_builtins(monkeypatch: pytest.MonkeyPatch):
    from importlib.metadata import EntryPoint

    import monkeyeval.models.registry as registry_module

    points = [
        EntryPoint("thirdparty", SPEC, "monkeyeval.models"),
        EntryPoint("hf", "somewhere.else:Adapter", "monkeyeval.models"),
    ]
    monkeypatch.setattr(
        registry_module, "entry_points", lambda group: points if group == "monkeyeval.models" else []
    )
    registry = AdapterRegistry.discover()
    assert registry.get("thirdparty") is FakeAdapter
    assert registry.specs["hf"] == "monkeyeval.models.hf:HFAdapter"


def test_command_line_model_options_win_over_the_task_yaml(tmp_path: Path):
    """The one place options merge: the task's `family_options[family]`, then `--model-option` on top."""
    task = load_task_file(REPO_ROOT / "tasks" / "minimonkey" / "minimonkey_chartqa_test.yaml",
                          resolve_data_root(tmp_path))  # fmt: skip
    assert task_model_options(task, "minimonkey", {}) == {"tiles": "ChartQA"}
    merged = task_model_options(task, "minimonkey", {"tiles": "OCRBench", "use_scm": True})
    assert merged == {"tiles": "OCRBench", "use_scm": True}
    assert task_model_options(task, "monkey", {"padding_aware_positions": True}) == {
        "padding_aware_positions": True
    }


def test_waiting_for_ranks_is_bounded_by_their_progress(tmp_path: Path):
    plan = Plan(attempt=1, todo=tuple(range(4)), n_done=0)
    ctx = DistContext(rank=0, world_size=2, launched=True)
    notes: list[str] = []
    for rank in (0, 1):
        part_path(tmp_path, PartId(rank, 2, 1)).parent.mkdir(parents=True, exist_ok=True)
    mark_done(part_path(tmp_path, PartId(0, 2, 1)))  # rank 0 finished; rank 1 never writes
    started = time.monotonic()
    with pytest.raises(RunFailure, match=r"rank\(s\) 1 wrote nothing for 0s.*re-run the same command"):
        wait_for_ranks(tmp_path, plan, ctx, notes.append, stall_timeout_s=0.3)
    assert time.monotonic() - started < 10
    mark_done(part_path(tmp_path, PartId(1, 2, 1)))
    wait_for_ranks(tmp_path, plan, ctx, notes.append, stall_timeout_s=0.3)  # both done: returns at once
