"""The harness's own ceiling: scoring, replay, the paired gate and a big report, with no model cost.

    python bench/bench_ceiling.py [--score-n 1000000] [--replay-n 100000] [--gate-n 100000]

Builds a synthetic task in a temp folder (N questions, answers drawn from a seed; image files are not
created: none of these commands opens an image) and times, each in a fresh subprocess, so start-up counts:

1. `monkeyeval score` of N predictions (target: 1M in under 15 s);
2. `monkeyeval run --ckpt predictions.jsonl` (the `replay` family) per sample (target: under 50 us), from
   the run minus the same command at 1,000 samples (start-up and model load cancel out);
3. `monkeyeval gate --mode paired` of two N-sample runs (target: 100k under 2 s);
4. `monkeyeval report` of those runs, piped; and, for each command, whether it imported torch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"score_1m_s": 15.0, "replay_us_per_sample": 50.0, "gate_paired_100k_s": 2.0}
WORDS = ("apple", "river", "stone", "cloud", "maple", "tiger", "piano", "lemon", "ocean", "amber")
TORCH_PROBE = (
    "import runpy, sys; sys.argv = ['monkeyeval', *sys.argv[1:]];"
    "import atexit; atexit.register(lambda: print('TORCH_IMPORTED' if 'torch' in sys.modules else "
    "'TORCH_NOT_IMPORTED', file=sys.stderr)); runpy.run_module('monkeyeval', run_name='__main__')"
)


def write_task(folder: Path, n: int, seed: int = 0) -> Path:
    """folder/tasks/bench.yaml with N samples (answers seeded); returns the tasks folder."""
    rng = random.Random(seed)
    data = folder / "data"
    (data / "images").mkdir(parents=True)
    with open(data / "bench.jsonl", "w", encoding="utf-8") as handle:
        for index in range(n):
            answer = rng.choice(WORDS)
            row = {"question_id": index, "question": "Which word?", "answer": answer, "image": f"{index}.png"}
            handle.write(json.dumps(row) + "\n")
    tasks = folder / "tasks"
    tasks.mkdir()
    (tasks / "bench.yaml").write_text(
        "task: bench\ndataset:\n  jsonl: ../data/bench.jsonl\n  image_root: ../data/images\n"
        "  relative_to: yaml_dir\nmetric_list: [exact_match_qwen]\nmax_new_tokens: 8\n",
        encoding="utf-8",
    )
    return tasks


def write_predictions(path: Path, n: int, seed: int, accuracy: float) -> None:
    """Predictions for the first N samples: right with probability `accuracy` (seeded)."""
    answers = random.Random(0)
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(n):
            gold = answers.choice(WORDS)
            prediction = gold if rng.random() < accuracy else rng.choice(WORDS)
            handle.write(json.dumps({"id": str(index), "prediction": prediction}) + "\n")


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of `python -m monkeyeval ARGS` (torch-import probe included) and its stderr."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", TORCH_PROBE, *args], capture_output=True, text=True, env=env, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"monkeyeval {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed, done.stderr


def torch_note(stderr: str) -> str:
    return "imports torch" if "TORCH_IMPORTED" in stderr else "no torch"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--score-n", type=int, default=1_000_000)
    parser.add_argument("--replay-n", type=int, default=100_000)
    parser.add_argument("--gate-n", type=int, default=100_000)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "MONKEYEVAL_CACHE_DIR": str(root / "cache"), "COLUMNS": "120"}
        common = ["--tasks-dir", str(write_task(root / "score", args.score_n))]

        predictions = root / "score.jsonl"
        write_predictions(predictions, args.score_n, seed=1, accuracy=0.7)
        seconds, err = timed(
            ["score", "--task", "bench", str(predictions), "--results", str(root / "s"), *common], env
        )
        figures["score_s"] = seconds
        scaled = seconds * 1_000_000 / args.score_n
        print(
            f"score        {args.score_n:>9,} predictions: {seconds:6.2f} s ({torch_note(err)}); "
            f"per 1M {scaled:.2f} s (target < {TARGETS['score_1m_s']:g} s)"
        )

        common = ["--tasks-dir", str(write_task(root / "replay", args.replay_n))]
        replay_times = []
        for n in (1_000, args.replay_n):
            ckpt = root / f"replay{n}.jsonl"
            write_predictions(ckpt, n, seed=2, accuracy=0.7)
            run = ["run", "--task", "bench", "--ckpt", str(ckpt), "--limit", str(n), "--batch-size", "64"]
            seconds, err = timed([*run, "--results", str(root / f"r{n}"), *common], env)
            replay_times.append(seconds)
        per_sample_us = (replay_times[1] - replay_times[0]) / (args.replay_n - 1_000) * 1e6
        figures["replay_us_per_sample"] = per_sample_us
        print(
            f"replay run   {args.replay_n:>9,} samples: {replay_times[1]:6.2f} s ({torch_note(err)}); "
            f"{per_sample_us:.1f} us/sample beyond start-up (target < {TARGETS['replay_us_per_sample']:g})"
        )

        common = ["--tasks-dir", str(write_task(root / "gate", args.gate_n))]
        results = root / "g"
        for name, seed, accuracy in (("base", 3, 0.7), ("new", 4, 0.69)):
            file = root / f"{name}.jsonl"
            write_predictions(file, args.gate_n, seed, accuracy)
            score = [
                "score",
                "--task",
                "bench",
                str(file),
                "--model-name",
                "m",
                "--results",
                str(results / name),
            ]
            timed([*score, *common], env)
        baseline = root / "baseline.json"
        timed(["gate", str(results / "base"), "--write-baseline", str(baseline)], env)
        seconds, err = timed(
            [
                "gate",
                str(results / "new"),
                "--baseline",
                str(baseline),
                "--mode",
                "paired",
                "--tolerance",
                "5",
            ],
            env,
        )
        figures["gate_paired_s"] = seconds
        scaled = seconds * 100_000 / args.gate_n
        print(
            f"gate paired  {args.gate_n:>9,} samples: {seconds:6.2f} s ({torch_note(err)}); "
            f"per 100k {scaled:.2f} s (target < {TARGETS['gate_paired_100k_s']:g} s)"
        )

        seconds, err = timed(["report", str(results)], env)
        figures["report_s"] = seconds
        print(f"report       2 runs, piped: {seconds:6.2f} s ({torch_note(err)})")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
