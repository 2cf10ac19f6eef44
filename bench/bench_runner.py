"""Runner overhead on the bundled demo checkpoint (prints figures; not a test).

    python bench/bench_runner.py [--rounds 5] [--repeat 4] [--batch-size 4] [--process-rounds 3]

1. Inference-loop overhead: the harness loop (DataLoader workers + adapter.generate + part-file appends) vs
   a bare loop feeding the same pre-built, pre-collated inputs to the same model's `generate` at the same
   batch size; timed alternately in this one process, each loop first in turn; median ratio (target <= 1.03).
2. Whole process: `python -m monkeyeval run --task demo ...` vs a bare script that loads the same model,
   preprocesses the same images and generates (start-up included), alternated; median ratio (target <= 1.2).
3. Harness samples/s at batch sizes 1, 4 and 16.
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


def harness_loop(loaded: Any, items: list[Any], batch_size: int, num_workers: int, part: Path) -> float:
    """The runner's loop: workers preprocess, adapter generates, records appended + fsynced per batch."""
    from monkeyeval.runner.engine import predict
    from monkeyeval.runner.parts import PartAppender

    part.unlink(missing_ok=True)
    started = time.perf_counter()
    with PartAppender(part) as writer:
        for records in predict(loaded.adapter, items, loaded.settings, batch_size, num_workers):
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

    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) - args.num_workers))
    print(f"torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, load avg {os.getloadavg()}")
    loaded, items = load(args.batch_size, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "part.jsonl"
        batches = bare_inputs(loaded, items, args.batch_size)
        harness_loop(loaded, items[:8], args.batch_size, 0, part)  # warm-up
        bare_loop(loaded, batches[:2])
        step, size = loaded.adapter.preprocessor(), args.batch_size
        prepared = [prepare_batch(items[i : i + size], step) for i in range(0, len(items), size)]
        ratios, prebuilt_ratios = [], []
        for round_index in range(args.rounds):
            timed = {
                "bare": lambda: bare_loop(loaded, batches),
                "harness": lambda: harness_loop(loaded, items, args.batch_size, args.num_workers, part),
                "prebuilt": lambda: harness_prebuilt_loop(loaded, prepared, part),
            }
            names = list(timed)
            names = names[round_index % 3 :] + names[: round_index % 3]  # each loop goes first in turn
            seconds = {name: timed[name]() for name in names}
            bare_s, ours_s, prebuilt_s = seconds["bare"], seconds["harness"], seconds["prebuilt"]
            ratios.append(ours_s / bare_s)
            prebuilt_ratios.append(prebuilt_s / bare_s)
            print(
                f"  loop: bare {bare_s:.2f}s  harness {ours_s:.2f}s (ratio {ours_s / bare_s:.3f})  "
                f"harness on pre-built inputs {prebuilt_s:.2f}s (ratio {prebuilt_s / bare_s:.3f})"
            )
        print(
            "inference-loop ratio, full harness incl. worker image decoding + processor "
            f"(batch {args.batch_size}, "
            f"{len(items)} samples, {args.num_workers} worker(s), {args.rounds} alternating rounds): "
            f"median {statistics.median(ratios):.3f}, best {min(ratios):.3f}  (target <= 1.03)"
        )
        print(
            "inference-loop ratio, harness fed the same pre-built inputs (generate, records, part appends): "
            f"median {statistics.median(prebuilt_ratios):.3f}, best {min(prebuilt_ratios):.3f}"
        )
        for batch_size in (1, 4, 16):
            seconds = harness_loop(loaded, items, batch_size, args.num_workers, part)
            print(f"harness throughput at batch {batch_size:2d}: {len(items) / seconds:.1f} samples/s")
    ours, bare = whole_process(args.process_rounds)
    ratio = statistics.median(o / b for o, b in zip(ours, bare, strict=True))
    print(
        f"whole process: monkeyeval run median {statistics.median(ours):.2f}s, bare script median "
        f"{statistics.median(bare):.2f}s, ratio {ratio:.3f}  (target <= 1.2)"
    )


if __name__ == "__main__":
    main()
