"""The `hf` family against a bare transformers loop, whole process, at batch 1 and 8 (prints figures).

    python bench/bench_hf.py [--arch qwen2_vl] [--samples 200] [--rounds 3] [--batch-sizes 1,8]

Builds a tiny random-weight checkpoint of `--arch` (tests/hf/tiny_vlms/; or pass `--ckpt DIR`) and a task
of rendered images of varied sizes, then alternates, per batch size and round, in fresh subprocesses:

- `python -m monkeyeval run --task bench_hf --ckpt DIR --batch-size B` (its default workers: 0 on CPU);
- a bare script: processor + `model.generate(max_new_tokens, do_sample=False)` per batch, writing answers;
- the same bare script with the harness's start-up treatment of the collector (paused while the libraries
  import and the weights load, then `gc.freeze()`), so the loops themselves are compared like for like.

Prints each run's wall seconds, the median ratio per batch size against the plain bare script (target
<= 1.05) and against the paused one, and whether the harness and the bare loop gave the same answer for
every sample.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.05
MAX_NEW_TOKENS = 16
BARE_SCRIPT = r"""
import gc, json, sys
if sys.argv[6] == "paused":  # the harness's start-up: collector paused until the weights are in, then frozen
    gc.disable()
from pathlib import Path
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText
from monkeyeval.models.hf_processors import load_processor  # images-only where torchvision is missing
ckpt, data, out = sys.argv[1], Path(sys.argv[2]), sys.argv[5]
batch, max_new = int(sys.argv[3]), int(sys.argv[4])
processor = load_processor(Path(ckpt))
model = AutoModelForImageTextToText.from_pretrained(ckpt, dtype=torch.float32).eval()
if sys.argv[6] == "paused":
    gc.enable()
    gc.freeze()
rows = [json.loads(line) for line in open(data / "bench_hf.jsonl")]
with open(out, "w") as handle, torch.inference_mode():
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        images = [[Image.open(data / "images" / r["image"])] for r in chunk]
        texts = [processor.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                 {"type": "text", "text": r["question"]}]}], add_generation_prompt=True, tokenize=False)
                 for r in chunk]
        inputs = processor(images=images, text=texts, return_tensors="pt", padding=True)
        output = model.generate(**inputs, max_new_tokens=max_new, do_sample=False)
        for r, row in zip(chunk, output[:, inputs["input_ids"].shape[1]:]):
            text = processor.tokenizer.decode(row, skip_special_tokens=True).strip()
            handle.write(json.dumps({"id": str(r["question_id"]), "prediction": text}) + "\n")
"""


def write_task(folder: Path, n: int) -> Path:
    """tasks/bench_hf.yaml over N seeded drawings of varied sizes; returns the data folder."""
    from PIL import Image, ImageDraw

    rng = random.Random(0)
    data = folder / "data"
    (data / "images").mkdir(parents=True)
    with open(data / "bench_hf.jsonl", "w", encoding="utf-8") as handle:
        for index in range(n):
            width, height = rng.randrange(24, 96), rng.randrange(24, 96)
            image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
            draw = ImageDraw.Draw(image)
            for _ in range(4):
                x, y = rng.randrange(width), rng.randrange(height)
                draw.rectangle([x, y, x + 20, y + 10], fill=tuple(rng.randrange(256) for _ in range(3)))
            image.save(data / "images" / f"{index}.png")
            row = {
                "question_id": index,
                "question": "What is written?",
                "answer": "x",
                "image": f"{index}.png",
            }
            handle.write(json.dumps(row) + "\n")
    (folder / "bench_hf.yaml").write_text(
        "task: bench_hf\ndataset:\n  relative_to: yaml_dir\n  jsonl: data/bench_hf.jsonl\n"
        f"  image_root: data/images\nmetric: exact_match_qwen\nmax_new_tokens: {MAX_NEW_TOKENS}\n"
        "prompt: '{question}'\n",
        encoding="utf-8",
    )
    return data


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def answers(path: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {str(row["id"]): row["prediction"] for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="qwen2_vl", help="a tests/hf/tiny_vlms/ architecture")
    parser.add_argument("--ckpt", type=Path, help="a checkpoint folder instead of a tiny --arch one")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,8")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    print(
        f"cpu count {os.cpu_count()}, load avg {os.getloadavg()}, "
        f"OMP_NUM_THREADS {env.get('OMP_NUM_THREADS', 'unset')}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        checkpoint = args.ckpt
        if checkpoint is None:
            sys.path.insert(0, str(REPO_ROOT / "tests"))
            from hf.tiny_vlms import build

            checkpoint = build(args.arch, root / "ckpt")
        data = write_task(root / "tasks", args.samples)
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            ratios: list[float] = []
            like_for_like: list[float] = []
            for round_no in range(args.rounds):
                results = root / f"results{batch_size}"
                ours = timed(
                    [
                        sys.executable,
                        "-m",
                        "monkeyeval",
                        "run",
                        "--task",
                        "bench_hf",
                        "--ckpt",
                        str(checkpoint),
                        "--tasks-dir",
                        str(root / "tasks"),
                        "--batch-size",
                        str(batch_size),
                        "--results",
                        str(results),
                        "--fresh",
                    ],
                    env,
                )
                bare_out = root / f"bare{batch_size}.jsonl"
                bare, bare_paused = (
                    timed(
                        [
                            sys.executable,
                            "-c",
                            BARE_SCRIPT,
                            str(checkpoint),
                            str(data),
                            str(batch_size),
                            str(MAX_NEW_TOKENS),
                            str(bare_out),
                            collector,
                        ],
                        env,
                    )
                    for collector in ("default", "paused")
                )
                ratios.append(ours / bare)
                like_for_like.append(ours / bare_paused)
                print(
                    f"  batch {batch_size} round {round_no + 1}: monkeyeval {ours:.2f}s, bare {bare:.2f}s "
                    f"(ratio {ours / bare:.3f}), bare with the harness's start-up collector pause "
                    f"{bare_paused:.2f}s (ratio {ours / bare_paused:.3f})"
                )
            [predictions] = results.glob("*/bench_hf/predictions.jsonl")
            ours_answers, bare_answers = answers(predictions), answers(bare_out)
            same = sum(ours_answers[key] == value for key, value in bare_answers.items())
            print(
                f"batch {batch_size}: whole-process ratio median {statistics.median(ratios):.3f} "
                f"(target <= {TARGET_RATIO}); against a bare loop that also pauses the collector at start-up "
                f"{statistics.median(like_for_like):.3f}; answers identical {same}/{len(bare_answers)}"
            )


if __name__ == "__main__":
    main()
