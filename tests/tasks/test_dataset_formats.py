"""`dataset.format`: VLMEvalKit TSV, Hugging Face parquet shards and raw ChartQA JSON read as published."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from monkeyeval.convert.vlmevalkit import convert_tsv
from monkeyeval.tasks.datacheck import task_file_problems
from monkeyeval.tasks.dataset import DatasetError, jsonl_sha256, load_samples
from monkeyeval.tasks.loader import DataRoot, load_task_file
from monkeyeval.tasks.registry import TaskRegistry
from monkeyeval.tasks.yaml_source import TaskConfigError


def image_bytes(fmt: str, color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (9, 5), color).save(buffer, format=fmt)
    return buffer.getvalue()


PNG, JPEG, GIF = (
    image_bytes("PNG", (200, 0, 0)),
    image_bytes("JPEG", (0, 200, 0)),
    image_bytes("GIF", (1, 2, 3)),
)
HF_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # datasets' `Image` feature storage


def write_task(tmp_path: Path, text: str, metrics, name: str = "t.yaml"):
    path = tmp_path / "tasks" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_task_file(path, DataRoot(tmp_path / "data", "test"), metrics)


# --------------------------------------------------------------------------- VLMEvalKit TSV


def tsv_rows() -> list[dict[str, object]]:
    return [
        {
            "index": 10,
            "image": base64.b64encode(PNG).decode(),
            "question": "What?",
            "answer": "cat",
            "hint": "h",
        },
        {"index": 11, "image": base64.b64encode(JPEG).decode(), "question": "Many?", "answer": "['a', 'b']"},
        {"index": 12, "image": "10", "question": 'Same "one"?\nyes', "answer": "yes", "hint": "nan"},
        {"index": 13, "image": "", "question": "no image", "answer": "x"},
    ]


def write_tsv(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)  # as VLMEvalKit's TSVs are made
    return path


TSV_TASK = "task: tsv\ndataset:\n  jsonl: LMUData/DEMO.tsv\nmetric: anls_docvqa\nmax_new_tokens: 8\n"


def test_a_tsv_task_gives_the_samples_of_its_converted_jsonl(tmp_path: Path, metrics) -> None:
    tsv = write_tsv(tmp_path / "data" / "LMUData" / "DEMO.tsv", tsv_rows())
    task = write_task(tmp_path, TSV_TASK, metrics)
    assert task.dataset.image_root == tsv.parent  # the default for embedded images: the TSV's folder
    loaded = load_samples(task)
    converted = convert_tsv(tsv, tmp_path / "converted")
    by_line = [json.loads(line) for line in converted.jsonl.read_text().splitlines()]
    assert [s.id for s in loaded.samples] == ["10", "11", "12"] and loaded.problems == []
    for sample, line in zip(loaded.samples, by_line, strict=True):
        assert (sample.question, sample.answers) == (line["question"], line["answer"])
        assert sample.image == f"images/DEMO/{line['image']}"  # VLMEvalKit's LMUData/images/<DATASET>/
        assert (
            sample.image_path is not None
            and sample.image_path.read_bytes() == (converted.image_dir / line["image"]).read_bytes()
        )
    assert loaded.samples[0].image_path.read_bytes() == PNG  # type: ignore[union-attr]
    assert loaded.samples[2].image_path == loaded.samples[0].image_path  # a reference shares row 10's file
    assert loaded.samples[0].extra == {"hint": "h"} and "hint" not in loaded.samples[2].extra


def test_tsv_images_are_written_once_and_only_when_images_are_resolved(tmp_path: Path, metrics) -> None:
    write_tsv(tmp_path / "data" / "LMUData" / "DEMO.tsv", tsv_rows())
    task = write_task(tmp_path, TSV_TASK, metrics)
    folder = tmp_path / "data" / "LMUData" / "images" / "DEMO"
    scored = load_samples(task, check_image_root=False, resolve_images=False)
    assert not folder.exists() and scored.samples[0].image == "images/DEMO/10.png"
    load_samples(task)
    stamps = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert sorted(stamps) == ["10.png", "11.jpg"]
    load_samples(task)
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == stamps  # same bytes: kept


def test_a_bad_tsv_row_is_skipped_with_its_line(tmp_path: Path, metrics) -> None:
    rows = tsv_rows()
    rows[1]["image"] = base64.b64encode(b"not an image, not at all, really not" * 3).decode()
    write_tsv(tmp_path / "data" / "LMUData" / "DEMO.tsv", rows)
    loaded = load_samples(write_task(tmp_path, TSV_TASK, metrics))
    assert [s.id for s in loaded.samples] == ["10", "12"]
    assert [p.line_no for p in loaded.problems] == [3]
    assert "row index '11'" in loaded.problems[0].message and "not a PNG" in loaded.problems[0].message


# --------------------------------------------------------------------------- parquet


def write_shards(folder: Path, rows: list[dict[str, object]], per_shard: int = 2) -> list[Path]:
    """lmms-lab/DocVQA-shaped shards: questionId (str), question, answers (list), image {bytes, path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    chunks = [rows[i : i + per_shard] for i in range(0, len(rows), per_shard)]
    for number, chunk in enumerate(chunks):
        table = pa.table(
            {
                "questionId": [str(row["qid"]) for row in chunk],
                "question": [row["question"] for row in chunk],
                "answers": [row["answers"] for row in chunk],
                "image": pa.array([row["image"] for row in chunk], type=HF_IMAGE),
                "other_image": [b"\x00\x01" for _ in chunk],
            }
        )
        path = folder / f"validation-{number:05d}-of-{len(chunks):05d}.parquet"
        pq.write_table(table, path, row_group_size=1)
        paths.append(path)
    return paths


PARQUET_ROWS: list[dict[str, object]] = [
    {"qid": 57349, "question": "q0", "answers": ["a"], "image": {"bytes": PNG, "path": None}},
    {"qid": 57350, "question": "q1", "answers": ["b", "bb"], "image": {"bytes": JPEG, "path": "x.jpg"}},
    {"qid": 57351, "question": "q2", "answers": ["c"], "image": {"bytes": GIF, "path": None}},
    {"qid": 57352, "question": "q3", "answers": ["d"], "image": {"bytes": b"garbage!" * 4, "path": None}},
    {"qid": 57353, "question": "q4", "answers": ["e"], "image": {"bytes": PNG, "path": None}},
]
PARQUET_TASK = (
    "task: docvqa_hf\ndataset:\n  file: {path}\n{extra}fields:\n  id: questionId\n  answer: answers\n"
    "metric: anls_docvqa\nmax_new_tokens: 8\n"
)


@pytest.mark.parametrize(
    ("path", "extra"),
    [("hf/DocVQA/validation-*.parquet", ""), ("hf/DocVQA", "  format: parquet\n")],
    ids=["glob", "folder"],
)
def test_parquet_shards_read_in_order_with_images_extracted(tmp_path: Path, metrics, path, extra) -> None:
    shards = write_shards(tmp_path / "data" / "hf" / "DocVQA", PARQUET_ROWS)
    task = write_task(tmp_path, PARQUET_TASK.format(path=path, extra=extra), metrics)
    assert task.dataset.image_root == tmp_path / "data" / "hf" / "DocVQA"
    loaded = load_samples(task)
    assert [s.id for s in loaded.samples] == ["57349", "57350", "57351", "57353"]
    assert [s.answers for s in loaded.samples][1] == ["b", "bb"]
    assert [p.line_no for p in loaded.problems] == [4] and "not a PNG" in loaded.problems[0].message
    name = "validation" if path.endswith("*.parquet") else "DocVQA"
    assert [s.image for s in loaded.samples] == [
        f"images/{name}/{row}" for row in ("000000.png", "000001.jpg", "000002.gif", "000004.png")
    ]
    originals = [PNG, JPEG, GIF, PNG]
    assert [s.image_path.read_bytes() for s in loaded.samples] == originals  # type: ignore[union-attr]
    assert all("other_image" not in s.extra for s in loaded.samples)  # other binary cells are dropped
    listing = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in shards)
    assert (
        jsonl_sha256(task.dataset.jsonl) == hashlib.sha256(listing.encode()).hexdigest()
    )  # sha256sum | sha256sum
    assert task_file_problems(task) == []


def test_scoring_a_parquet_task_reads_no_image_bytes(tmp_path: Path, metrics) -> None:
    write_shards(tmp_path / "data" / "hf" / "DocVQA", PARQUET_ROWS)
    task = write_task(tmp_path, PARQUET_TASK.format(path="hf/DocVQA/*.parquet", extra=""), metrics)
    scored = load_samples(task, check_image_root=False, resolve_images=False, image_names=False)
    assert len(scored.samples) == 5 and {s.image for s in scored.samples} == {""}  # garbage row kept: unread
    merged = load_samples(task, resolve_images=False)  # merge/replay: the names a run gives, nothing written
    assert merged.samples[0].image == "images/DocVQA/000000.png"
    assert not (tmp_path / "data" / "hf" / "DocVQA" / "images").exists()
    assert scored.ids_by_row()[4] == "57353"


def test_parquet_errors_name_the_file_and_the_columns(tmp_path: Path, metrics) -> None:
    folder = tmp_path / "data" / "hf"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"q": ["x"]}), folder / "a.parquet")
    task = write_task(tmp_path, PARQUET_TASK.format(path="hf/a.parquet", extra=""), metrics)
    with pytest.raises(
        DatasetError, match=r"a\.parquet: no column 'image' \(fields\.image\); its columns: q"
    ):
        load_samples(task)
    (folder / "b.parquet").write_bytes(b"not parquet")
    task = write_task(tmp_path, PARQUET_TASK.format(path="hf/b.parquet", extra=""), metrics)
    with pytest.raises(DatasetError, match=r"b\.parquet: not a readable parquet file"):
        load_samples(task)
    task = write_task(tmp_path, PARQUET_TASK.format(path="hf/none-*.parquet", extra=""), metrics)
    with pytest.raises(DatasetError, match=r"must hold \*\.parquet files"):
        load_samples(task)


# --------------------------------------------------------------------------- raw ChartQA JSON


HUMAN = [
    {
        "imgname": "41699051005347.png",
        "query": "How many food item is shown in the bar graph?",
        "label": "14",
    },
    {"imgname": "41699051005347.png", "query": "What is the difference in value?", "label": "0.57"},
    {"imgname": "8127.png", "query": "What's the value of the lowest bar?", "label": "23"},
]
AUGMENTED = [
    {"imgname": "multi_col_803.png", "query": "How many stores in 2020?", "label": "47"},
    {"imgname": "two_col_100878.png", "query": "Most popular social media for women?", "label": "WhatsApp"},
]


def write_chartqa(root: Path) -> None:
    """The repo's shapes: test_human.json on one line, test_augmented.json tab-indented with CRLF endings."""
    test = root / "ChartQA Dataset" / "test"
    (test / "png").mkdir(parents=True)
    (test / "test_human.json").write_text(json.dumps(HUMAN), encoding="utf-8")
    crlf = json.dumps(AUGMENTED, indent="\t").replace("\n", "\r\n")
    (test / "test_augmented.json").write_bytes(crlf.encode("utf-8"))
    for item in HUMAN + AUGMENTED:
        (test / "png" / str(item["imgname"])).write_bytes(PNG)


def test_the_builtin_chartqa_tasks_read_the_published_files(tmp_path: Path) -> None:
    write_chartqa(tmp_path)
    registry = TaskRegistry.discover(data_root=tmp_path)
    assert registry.groups()["chartqa_test"] == ["chartqa_test_augmented", "chartqa_test_human"]
    for name, items in (("chartqa_test_human", HUMAN), ("chartqa_test_augmented", AUGMENTED)):
        task = registry.get(name)
        assert task.metrics == ("relaxed_accuracy_pix2struct", "relaxed_accuracy_qwen")
        loaded = load_samples(task)
        assert loaded.problems == []
        assert [s.id for s in loaded.samples] == [str(i) for i in range(len(items))]  # {#row}
        assert [(s.question, s.answers) for s in loaded.samples] == [
            (i["query"], [i["label"]]) for i in items
        ]
        png = tmp_path / "ChartQA Dataset" / "test" / "png"
        assert [s.image_path for s in loaded.samples] == [png / str(i["imgname"]) for i in items]


def test_a_row_id_counts_skipped_rows(tmp_path: Path, metrics) -> None:
    data = tmp_path / "data"
    data.mkdir()
    items = [
        {"q": "a", "a": "1", "i": "x.png"},
        {"q": 5, "a": "2", "i": "x.png"},
        {"q": "c", "a": "3", "i": "x.png"},
    ]
    (data / "d.json").write_text(json.dumps(items), encoding="utf-8")
    text = (
        "task: rows\ndataset:\n  jsonl: d.json\nfields:\n  question: q\n  answer: a\n  image: i\n"
        '  id: "row-{#row}"\nmetric: anls_docvqa\nmax_new_tokens: 8\n'
    )
    loaded = load_samples(write_task(tmp_path, text, metrics))
    assert [s.id for s in loaded.samples] == ["row-0", "row-2"]  # the position would have been 0, 1


# --------------------------------------------------------------------------- the YAML keys


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("  jsonl: d.bin\n  format: csv\n", "key 'dataset.format': must be one of jsonl, json, tsv, parquet"),
        ("  jsonl: d.jsonl\n  file: d.jsonl\n", "'dataset.jsonl' or its alias 'dataset.file', not both"),
        ("  image_root: x\n", "missing required key 'dataset.jsonl'"),
        ("  jsonl: d.jsonl\n  fromat: tsv\n", "did you mean: format"),
    ],
)
def test_dataset_key_errors_name_the_file_and_key(
    tmp_path: Path, metrics, dataset: str, expected: str
) -> None:
    with pytest.raises(TaskConfigError) as info:
        write_task(tmp_path, f"task: t\ndataset:\n{dataset}metric: anls_docvqa\nmax_new_tokens: 8\n", metrics)
    assert expected in str(info.value) and str(tmp_path / "tasks" / "t.yaml") in str(info.value)


def test_format_and_file_alias(tmp_path: Path, metrics) -> None:
    task = write_task(
        tmp_path,
        "task: t\ndataset:\n  file: a.txt\n  format: json\nmetric: anls\nmax_new_tokens: 8\n",
        metrics,
    )
    assert task.dataset.jsonl == tmp_path / "data" / "a.txt" and task.dataset.format == "json"
    assert task.dataset.image_root == tmp_path / "data"  # not an embedded format: the usual default
    folder = tmp_path / "data" / "shards"
    folder.mkdir(parents=True)
    task = write_task(
        tmp_path, "task: t\ndataset:\n  jsonl: shards\nmetric: anls\nmax_new_tokens: 8\n", metrics
    )
    with pytest.raises(DatasetError, match=r"a folder or glob of shards needs `dataset\.format: parquet`"):
        load_samples(task)
