"""Runner overhead on the bundled demo checkpoint (prints figures; not a test).

    python bench/bench_runner.py [--rounds 5] [--repeat 4] [--batch-size 4] [--process-rounds 3]

1. Inference-loop overhead: the harness loop (DataLoader workers + adapter.generate + part-file appends) vs
   a bare loop feeding the same pre-built, pre-collated inputs to the same model's `generate` at the same
   batch size; timed alternately in this one process, each loop first in turn; median ratio (target <= 1.03).
   The harness loop's workers are kept from the round before (`workers.BatchPreparer`), as a run keeps them
   from task to task; the loop that starts its own workers (a run's first task) is timed and shown too.
2. Whole process: `python -m monkeyeval run --task demo ...` vs a bare script that loads the same model,
   preprocesses the same images and generates (start-up included), alternated; median ratio (target <= 1.2).
3. Harness samples/s at batch sizes 1, 4 and 16.
4. Worker-to-rank transport at real payload sizes (Monkey's float32 896x896 image, Mini-Monkey's 25 bf16
   tiles of 448x448; 4 samples a batch): the rank's milliseconds per batch to receive it and read it all (as
   a copy to the device does), large tensors in shared memory (now) vs every tensor as pickled bytes (before).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_CKPT = REPO_ROOT / "demo" / "checkpoint"

BARE_SCRIPT = r"""
import json, sys
from pathlib import Path
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor
ckpt, root, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
processor = AutoProcessor.from_pretrained(ckpt)
processor.tokenizer.padding_side = "left"
model = AutoModelForImageTextToText.from_pretrained(ckpt, dtype=torch.float32).eval()
rows = [json.loads(line) for line in open(root / "demo.jsonl")]
with open(out, "w") as handle, torch.inference_mode():
    for start in range(0, len(rows), 4):
        chunk = rows[start:start + 4]
        images = [[Image.open(root / r["image"])] for r in chunk]
        texts = [processor.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                 {"type": "text", "text": r["question"]}]}], add_generation_prompt=True, tokenize=False)
                 for r in chunk]
        inputs = processor(images=images, text=texts, return_tensors="pt", padding=True)
        output = model.generate(**inputs, max_new_tokens=20, do_sample=False, num_beams=1,
                                pad_token_id=processor.tokenizer.pad_token_id)
        for r, row in zip(chunk, output[:, inputs["input_ids"].shape[1]:]):
            text = processor.tokenizer.decode(row, skip_special_tokens=True).strip()
            handle.write(json.dumps({"id": r["question_id"], "prediction": text}) + "\n")
"""


def load(batch_size: int, repeat: int) -> tuple[Any, list[Any]]:
    """The demo task's work items (repeated) and the loaded hf adapter, through the harness's own code."""
    from rich.console import Console

    from monkeyeval.runner.data import WorkItem
    from monkeyeval.runner.distributed import DistContext
    from monkeyeval.runner.request import RunRequest
    from monkeyeval.runner.session import RunSession

    request = RunRequest(tasks=("demo",), checkpoint=str(DEMO_CKPT), batch_size=batch_size, device="cpu")
    loaded = RunSession(request, Console(stderr=True), DistContext()).load_for_single_task()
    items = [WorkItem(i.sample, i.prompt, i.model_text) for _ in range(repeat) for i in loaded.items]
    return loaded, items


def harness_loop(loaded: Any, items: list[Any], batch_size: int, preparer: Any, part: Path) -> float:
    """The runner's loop: workers preprocess, adapter generates, records appended + fsynced per batch."""
    from monkeyeval.runner.engine import predict
    from monkeyeval.runner.parts import PartAppender

    part.unlink(missing_ok=True)
    started = time.perf_counter()
    with PartAppender(part) as writer:
        for records in predict(loaded.adapter, items, loaded.settings, batch_size, 0, preparer=preparer):
            writer.append_many(r.to_json() for r in records)
    return time.perf_counter() - started


def harness_prebuilt_loop(loaded: Any, prepared: list[Any], part: Path) -> float:
    """The runner's generate + record + part-append path fed batches its workers delivered beforehand
    (`data.prepare_batch`: images decoded, the processor's batch step done), so no image work is timed."""
    from monkeyeval.runner.engine import generate_batch
    from monkeyeval.runner.parts import PartAppender

    part.unlink(missing_ok=True)
    started = time.perf_counter()
    with PartAppender(part) as writer:
        for batch in prepared:
            writer.append_many(r.to_json() for r in generate_batch(loaded.adapter, batch, loaded.settings))
    return time.perf_counter() - started


def bare_inputs(loaded: Any, items: list[Any], batch_size: int) -> list[Any]:
    """Pre-built, pre-collated model inputs (what the bare loop feeds to generate)."""
    from monkeyeval.models.hf_processors import batch_features

    step = loaded.adapter.preprocessor()
    payloads = [step(item.sample, item.prompt) for item in items]
    processor = loaded.adapter.processor
    return [
        batch_features(processor, payloads[i : i + batch_size]) for i in range(0, len(payloads), batch_size)
    ]


def bare_loop(loaded: Any, batches: list[Any]) -> float:
    """generate() on each pre-built batch, same kwargs as the adapter, decoding the new tokens."""
    import torch

    model, tokenizer = loaded.adapter.model, loaded.adapter.processor.tokenizer
    started = time.perf_counter()
    with torch.inference_mode():
        for inputs in batches:
            output = model.generate(
                **inputs,
                max_new_tokens=loaded.settings.max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=loaded.adapter.pad_id,
            )
            tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return time.perf_counter() - started


TRANSPORT_PAYLOADS = {  # name -> one sample's pixel tensor shape and dtype name, from the real configs
    "Monkey (3x896x896 float32)": ((3, 896, 896), "float32"),
    "Mini-Monkey (25 tiles 3x448x448 bf16)": ((25, 3, 448, 448), "bfloat16"),
}


class TransportBatches:
    """A DataLoader dataset: batch b -> 4 packed payloads of `shape` (ids too), the tensors of
    `shared_min_bytes` or more left to torch's shared memory."""

    def __init__(self, shape: tuple[int, ...], dtype: str, shared_min_bytes: int, n_batches: int) -> None:
        self.shape, self.dtype, self.n_batches = shape, dtype, n_batches
        self.shared_min_bytes = shared_min_bytes

    def __len__(self) -> int:
        return self.n_batches

    def __getitem__(self, position: int) -> Any:
        import torch

        from monkeyeval.runner.data import pack_tensors

        memo: dict[int, Any] = {}
        payload = {"pixel_values": torch.ones(self.shape, dtype=getattr(torch, self.dtype))}
        rows = [{**payload, "input_ids": torch.arange(300 + row)} for row in range(4)]
        return [pack_tensors(row, memo, self.shared_min_bytes) for row in rows]


def transport(n_batches: int = 12, generate_s: float = 0.15) -> None:
    """Milliseconds per batch the rank spends receiving a worker's batch and reading it, for each payload."""
    import torch
    from torch.utils.data import DataLoader

    from monkeyeval.runner.data import SHARED_MEMORY_MIN_BYTES, unpack_tensors

    for name, (shape, dtype) in TRANSPORT_PAYLOADS.items():
        timings = {}
        for label, threshold in (("shared memory", SHARED_MEMORY_MIN_BYTES), ("bytes", 1 << 62)):
            dataset = TransportBatches(shape, dtype, threshold, n_batches)
            batches = iter(DataLoader(dataset, batch_size=None, num_workers=1, collate_fn=lambda b: b))
            sink = torch.empty(shape, dtype=getattr(torch, dtype))
            next(batches)
            spent = []
            for _ in range(n_batches - 1):
                time.sleep(generate_s)  # the rank generating: the worker has the next batch ready
                started = time.perf_counter()
                for row in unpack_tensors(next(batches)):
                    sink.copy_(row["pixel_values"])
                spent.append(time.perf_counter() - started)
            timings[label] = statistics.median(spent) * 1000
        local = torch.ones(shape, dtype=getattr(torch, dtype))
        started = time.perf_counter()
        for _ in range(4 * 5):
            sink.copy_(local)
        timings["copy"] = (time.perf_counter() - started) / 5 * 1000
        print(
            f"transport, {name}, 4 a batch: {timings['shared memory']:.1f} ms a batch with large tensors "
            f"in shared memory, {timings['bytes']:.1f} ms as pickled bytes (the copy alone, from the rank's "
            f"own memory: {timings['copy']:.1f} ms)"
        )


def whole_process(rounds: int) -> tuple[list[float], list[float]]:
    """Alternate `monkeyeval run` (fresh each time) and the bare script; wall seconds of each."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    ours, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "monkeyeval",
                    "run",
                    "--task",
                    "demo",
                    "--ckpt",
                    str(DEMO_CKPT),
                    "--results",
                    tmp,
                    "--fresh",
                    "--num-workers",
                    "1",
                ],
                check=True,
                capture_output=True,
                env=env,
            )
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    BARE_SCRIPT,
                    str(DEMO_CKPT),
                    str(REPO_ROOT / "tasks" / "demo"),
                    str(Path(tmp) / "bare.jsonl"),
                ],
                check=True,
                capture_output=True,
                env=env,
            )
            bare.append(time.perf_counter() - started)
    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--repeat", type=int, default=8, help="dataset copies per timed loop (36 samples each)"
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--process-rounds", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for both loops (default: cores minus workers, so workers do not steal the "
        "generating threads' cores, as on a GPU machine where generation does not run on the CPU)",
    )
    args = parser.parse_args()
    import torch

    from monkeyeval.runner.data import prepare_batch
    from monkeyeval.runner.workers import BatchPreparer

    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) - args.num_workers))
    print(f"torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, load avg {os.getloadavg()}")
    loaded, items = load(args.batch_size, args.repeat)
    with tempfile.TemporaryDirectory() as tmp, BatchPreparer(args.num_workers) as kept:
        part = Path(tmp) / "part.jsonl"
        batches = bare_inputs(loaded, items, args.batch_size)
        harness_loop(loaded, items[:8], args.batch_size, kept, part)  # warm-up; starts the kept workers
        bare_loop(loaded, batches[:2])
        step, size = loaded.adapter.preprocessor(), args.batch_size
        prepared = [prepare_batch(items[i : i + size], step) for i in range(0, len(items), size)]

        def fresh_workers_loop() -> float:
            with BatchPreparer(args.num_workers) as fresh:
                return harness_loop(loaded, items, args.batch_size, fresh, part)

        timed = {
            "bare": lambda: bare_loop(loaded, batches),
            "harness": lambda: harness_loop(loaded, items, args.batch_size, kept, part),
            "prebuilt": lambda: harness_prebuilt_loop(loaded, prepared, part),
            "fresh": fresh_workers_loop,
        }
        ratios: dict[str, list[float]] = {name: [] for name in timed if name != "bare"}
        extra_ms, batch_ms = [], []  # the kept-workers loop's cost over the bare loop, per batch
        for round_index in range(args.rounds):
            names = list(timed)
            turn = round_index % len(names)
            seconds = {name: timed[name]() for name in names[turn:] + names[:turn]}  # each first in turn
            for name in ratios:
                ratios[name].append(seconds[name] / seconds["bare"])
            extra_ms.append((seconds["harness"] - seconds["bare"]) / len(batches) * 1000)
            batch_ms.append(seconds["bare"] / len(batches) * 1000)
            print(
                f"  loop: bare {seconds['bare']:.2f}s  harness {seconds['harness']:.2f}s "
                f"(ratio {ratios['harness'][-1]:.3f})  on pre-built inputs {seconds['prebuilt']:.2f}s "
                f"(ratio {ratios['prebuilt'][-1]:.3f})  starting its workers {seconds['fresh']:.2f}s "
                f"(ratio {ratios['fresh'][-1]:.3f})"
            )
        described = {
            "harness": "full harness incl. worker image decoding + processor, workers kept",
            "fresh": "full harness, workers started in the loop (a run's first task)",
            "prebuilt": "harness fed the same pre-built inputs (generate, records, part appends)",
        }
        for name, what in described.items():
            target = "  (target <= 1.03)" if name == "harness" else ""
            print(
                f"inference-loop ratio, {what} (batch {args.batch_size}, {len(items)} samples, "
                f"{args.num_workers} worker(s), {args.rounds} alternating rounds): median "
                f"{statistics.median(ratios[name]):.3f}, best {min(ratios[name]):.3f}{target}"
            )
        extra, per_batch = statistics.median(extra_ms), statistics.median(batch_ms)
        print(
            f"harness cost over the bare loop, workers kept: median {extra:.2f} ms a batch, against "
            f"{per_batch:.1f} ms of generation a batch for this demo model; the ratio is 1 + that cost / a "
            f"batch's generation time (1 + {extra / 1000:.5f} / seconds a batch for a real model)"
        )
        for batch_size in (1, 4, 16):
            seconds = harness_loop(loaded, items, batch_size, kept, part)
            print(f"harness throughput at batch {batch_size:2d}: {len(items) / seconds:.1f} samples/s")
    transport()
    ours, bare = whole_process(args.process_rounds)
    ratio = statistics.median(o / b for o, b in zip(ours, bare, strict=True))
    print(
        f"whole process: monkeyeval run median {statistics.median(ours):.2f}s, bare script median "
        f"{statistics.median(bare):.2f}s, ratio {ratio:.3f}  (target <= 1.2)"
    )


if __name__ == "__main__":
    main()
