"""`run --dry-run`, `run --ckpt demo` and `score` on tasks that read a VLMEvalKit TSV and parquet shards."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.core.paths import builtin_dir

DEMO = builtin_dir("tasks") / "demo"
N = 6


def demo_rows() -> list[dict]:
    lines = (DEMO / "demo.jsonl").read_text(encoding="utf-8").splitlines()[:N]
    return [json.loads(line) for line in lines]


def write_tsv(data: Path) -> str:
    rows = [
        {
            "index": row["question_id"],
            "image": base64.b64encode((DEMO / row["image"]).read_bytes()).decode(),
            "question": row["question"],
            "answer": str(row["answer"]),
        }
        for row in demo_rows()
    ]
    rows[2]["image"] = "0"  # shares row 0's image
    (data / "LMUData").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(data / "LMUData" / "DEMO.tsv", sep="\t", index=False)
    return "task: tsvdemo\ndataset:\n  jsonl: LMUData/DEMO.tsv\nmetric: anls_docvqa\nmax_new_tokens: 8\n"


def write_parquet(data: Path) -> str:
    folder = data / "hf" / "demo"
    folder.mkdir(parents=True)
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    rows = demo_rows()
    for shard, part in enumerate((rows[:4], rows[4:])):
        table = pa.table(
            {
                "question_id": [row["question_id"] for row in part],
                "question": [row["question"] for row in part],
                "answers": [[str(row["answer"])] for row in part],
                "image": pa.array(
                    [{"bytes": (DEMO / r["image"]).read_bytes(), "path": None} for r in part], image
                ),
            }
        )
        pq.write_table(table, folder / f"test-{shard:05d}-of-00002.parquet", row_group_size=3)
    return (
        "task: tsvdemo\ndataset:\n  file: hf/demo\n  format: parquet\nfields:\n  answer: answers\n"
        "metric: anls_docvqa\nmax_new_tokens: 8\nprofiles:\n  monkey: monkey_vqa\n"
    )


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("writer", [write_tsv, write_parquet], ids=["tsv", "parquet"])
def test_dry_run_run_and_score(tmp_path: Path, writer) -> None:
    data, tasks = tmp_path / "data", tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "t.yaml").write_text(writer(data), encoding="utf-8")
    where = ["--tasks-dir", str(tasks), "--data-root", str(data), "--results", str(tmp_path / "results")]
    code, out = invoke("run", "--task", "tsvdemo", "--ckpt", "demo", "--dry-run", *where)
    assert code == 0, out
    assert "dry run: nothing written" in out and not (tmp_path / "results").exists()
    code, out = invoke("run", "--task", "tsvdemo", "--ckpt", "demo", *where)
    assert code == 0, out
    predictions = tmp_path / "results" / "demo__checkpoint" / "tsvdemo" / "predictions.jsonl"
    records = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [r["id"] for r in records] == [str(row["question_id"]) for row in demo_rows()]
    assert all(r["error"] is None for r in records)  # every image was extracted and opened
    code, out = invoke("score", "--task", "tsvdemo", str(predictions), "--model-name", "again", *where)
    assert code == 0, out
    rescored = tmp_path / "results" / "again" / "tsvdemo" / "predictions.jsonl"
    assert [json.loads(line)["score"] for line in rescored.read_text().splitlines()] == [
        r["score"] for r in records
    ]
