"""HTML sample browser and run comparison fragments (`monkeyeval.report.html.samples` / `.compare`)."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from monkeyeval.cli.app import build_app
from monkeyeval.core.errors import UserError
from monkeyeval.gate.compare import RIGHT_THRESHOLD
from monkeyeval.report.html.compare import comparison_section
from monkeyeval.report.html.samples import sample_browser_section, samples_sections
from monkeyeval.results.reader import read_scores_file
from monkeyeval.results.schema import RunResult
from monkeyeval.results.tree import load_results
from monkeyeval.runner.parts import write_manifest

ESCAPING = "../../etc/passwd"
OUTSIDE = "../outside.png"


class Page(HTMLParser):
    """Collects sample cards (tags, id, fields, image), filter buttons, notes and script/style blocks."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.cards: list[dict[str, Any]] = []
        self.buttons: dict[str, int] = {}
        self.texts: list[str] = []
        self.scripts: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self._stack: list[str] = []
        self._field: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag not in ("img", "br", "meta", "input"):  # void elements have no end tag
            self._stack.append(tag)
        if tag == "div" and a.get("class") == "me-sb-item":
            tags = set((a["data-tags"] or "").split())
            self.cards.append({"id": a["data-id"], "tags": tags, "img": None, "noimg": False, "fields": {}})
        elif tag == "img" and self.cards:
            self.cards[-1]["img"] = a["src"]
        elif tag == "div" and a.get("class") == "me-sb-noimg" and self.cards:
            self.cards[-1]["noimg"] = True
        elif tag == "button" and "data-filter" in a:
            self.buttons[str(a["data-filter"])] = int(str(a["data-count"]))
        elif tag == "tr" and a.get("class") == "me-cmp-flip":
            self.rows.append({"kind": a["data-kind"], "cells": []})
        elif tag == "dt":
            self._field = ""

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        current = self._stack[-1] if self._stack else ""
        if current == "script":
            self.scripts.append(data)
            return
        self.texts.append(data)
        if current == "dt":
            self._field = data
        elif self._field and self.cards and current in ("dd", "pre", "li", "small"):
            self.cards[-1]["fields"].setdefault(self._field, []).append(data)
        if current in ("td", "pre") and self.rows and "me-cmp-flip" not in data:
            self.rows[-1]["cells"].append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def make_task(root: Path, n: int) -> Path:
    """tasks/tiny.yaml + data/tiny.jsonl + PNGs under data/images (sample 1 escapes, sample 2 is missing)."""
    tasks = root / "tasks"
    images = tasks / "data" / "images"
    images.mkdir(parents=True)
    Image.new("RGB", (40, 40), (9, 9, 9)).save(tasks / "data" / "outside.png")
    lines = []
    for i in range(n):
        image = {1: ESCAPING, 3: OUTSIDE}.get(i, f"img{i}.png")
        if i != 2 and image.startswith("img"):
            Image.new("RGB", (400 + i, 300), (i * 10 % 256, 100, 200)).save(images / image)
        lines.append(
            json.dumps({"question_id": f"q{i}", "image": image, "question": f"w{i}?", "answer": "a"})
        )
    (tasks / "data" / "tiny.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tasks / "tiny.yaml").write_text(
        "task: tiny\ndataset:\n  relative_to: yaml_dir\n  jsonl: data/tiny.jsonl\n  image_root: data/images\n"
        "metric: exact_match_qwen\nmax_new_tokens: 8\n",
        encoding="utf-8",
    )
    return tasks


def record(i: int, score: float | None, prediction: str = "a", **extra: Any) -> dict[str, Any]:
    """One predictions.jsonl line for sample `q{i}`."""
    row = {"index": i, "id": f"q{i}", "prompt": f"Q: w{i}?", "prediction": prediction, "answers": ["a"]}
    row |= {"score": score, "scores": {}, "error": None, "n_new_tokens": 2, "truncated": False}
    return row | extra


@pytest.fixture
def write(tmp_path: Path, run_writer: Callable[..., Path]) -> Callable[..., RunResult]:
    """`write(model, rows, tasks_dir=None)`: a run of task tiny with these records (+ run.json)."""

    def _write(model: str, rows: list[dict[str, Any]], tasks_dir: Path | None = None) -> RunResult:
        scored = [r["score"] or 0.0 for r in rows]
        run_dir = run_writer(tmp_path / "results", model, "tiny", sum(scored) / len(scored), n=len(rows))
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (run_dir / "predictions.jsonl").write_text(text, encoding="utf-8")
        if tasks_dir is not None:
            write_manifest(
                run_dir, {"task": "tiny", "tasks_dirs": [str(tasks_dir)], "data_root": str(tmp_path)}
            )
        return read_scores_file(run_dir / "scores.json")

    return _write


def varied_rows(n: int) -> list[dict[str, Any]]:
    """Right, wrong, error, truncated and empty samples mixed through the dataset."""
    rows = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            rows.append(record(i, 1.0))
        elif kind == 1:
            rows.append(record(i, 0.0, "b"))
        elif kind == 2:
            rows.append(record(i, None, "", error="CUDA out of memory"))
        elif kind == 3:
            rows.append(record(i, 1.0, truncated=True))
        else:
            rows.append(record(i, 0.0, " "))
    return rows


def expected_tags(row: dict[str, Any]) -> set[str]:
    """The filters a record belongs to, computed from the file's fields."""
    score = row["score"] if row["score"] is not None else (0.0 if row["error"] else None)
    tags = set()
    if row["error"]:
        tags.add("error")
    if score is not None and score < 1.0:
        tags.add("wrong")
    if row["truncated"]:
        tags.add("truncated")
    if not row["prediction"].strip():
        tags.add("empty")
    return tags


def decode(uri: str) -> Image.Image:
    assert uri.startswith(("data:image/png;base64,", "data:image/jpeg;base64,"))
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_browser_counts_filters_images_and_escaping(tmp_path: Path, write: Callable[..., RunResult]):
    tasks = make_task(tmp_path, 10)
    rows = varied_rows(10)
    rows[0]["prediction"] = "<script>alert(1)</script>"
    run = write("m", rows, tasks)
    text = sample_browser_section(run, thumb_px=64)
    page = Page(text)
    tags = [expected_tags(row) for row in rows]
    for name in ("wrong", "error", "truncated", "empty"):
        assert page.buttons[name] == sum(name in t for t in tags), name
    assert page.buttons["all"] == len(rows)
    assert {c["id"]: c["tags"] for c in page.cards} == {r["id"]: t for r, t in zip(rows, tags, strict=True)}
    by_id = {card["id"]: card for card in page.cards}
    for i in (0, 4, 5):
        image = decode(by_id[f"q{i}"]["img"])
        assert max(image.size) <= 64 and image.size[0] == 64  # downscaled, aspect kept
    for i in (1, 2, 3):  # escapes the root, missing file, outside the root (the file exists)
        assert by_id[f"q{i}"]["img"] is None and by_id[f"q{i}"]["noimg"]
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert by_id["q0"]["fields"]["prediction"] == ["<script>alert(1)</script>"]
    assert by_id["q0"]["fields"]["model input"] == ["Q: w0?"]
    assert by_id["q2"]["fields"]["error"] == ["CUDA out of memory"]
    assert by_id["q1"]["fields"]["score"] == ["0.0"] and by_id["q0"]["fields"]["score"] == ["100.0"]
    assert "showing 10 of 10 samples" in page.text and "raise with --samples" not in page.text
    assert len(page.scripts) == 1 and "alert" not in page.scripts[0]


def test_cap_keeps_informative_samples_first_in_dataset_order(
    tmp_path: Path, write: Callable[..., RunResult]
):
    rows = varied_rows(23)
    run = write("m", rows)  # no run.json: images are unavailable, never an error
    page = Page(sample_browser_section(run, max_samples=7))
    assert "showing 7 of 23 samples (cap 7; raise with --samples)" in page.text
    rank = {"error": 0, "wrong": 1, "truncated": 2, "empty": 3}

    def key(row: dict[str, Any]) -> tuple[int, int]:
        return min((rank[t] for t in expected_tags(row)), default=4), row["index"]

    expected = [row["id"] for row in sorted(rows, key=key)[:7]]
    assert [card["id"] for card in page.cards] == expected
    assert page.cards[0]["tags"] >= {"error"}
    assert all(card["img"] is None for card in page.cards)
    assert page.text.count("image unavailable") == 7
    assert page.buttons["error"] == sum(bool(r["error"]) for r in rows)  # counts are over the whole file


@pytest.mark.parametrize("damage", ["{not json\n", '{"no_id": 1}\n', None])
def test_damaged_or_missing_predictions_give_a_message(
    tmp_path: Path, write: Callable[..., RunResult], damage: str | None
):
    run = write("m", varied_rows(3))
    if damage is None:
        run.predictions_path.unlink()
    else:
        with open(run.predictions_path, "a", encoding="utf-8") as handle:
            handle.write(damage)
    page = Page(sample_browser_section(run))
    assert "predictions.jsonl missing or damaged" in page.text
    assert page.cards == []
    other = write("n", varied_rows(3))
    assert "predictions.jsonl missing or damaged" in Page(comparison_section(run, other)).text


def flips_from(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Expected flips by kind, from the two files (right: score >= the gate's threshold; error: 0)."""
    score_b = {r["id"]: r["score"] if r["score"] is not None else 0.0 for r in rows_b}
    out: dict[str, list[str]] = {"right-wrong": [], "wrong-right": []}
    for row in rows_a:
        if row["id"] not in score_b:
            continue
        before = (row["score"] if row["score"] is not None else 0.0) >= RIGHT_THRESHOLD
        after = score_b[row["id"]] >= RIGHT_THRESHOLD
        if before != after:
            out["right-wrong" if before else "wrong-right"].append(row["id"])
    return out


def test_comparison_lists_flips_changes_and_unmatched(tmp_path: Path, write: Callable[..., RunResult]):
    rows_a = varied_rows(12)
    rows_b = [record(i, 1.0 - (i % 3 == 0), "a" if i % 3 else "<b>x</b>") for i in range(2, 14)]
    a, b = write("ma", rows_a), write("mb", rows_b)
    text = comparison_section(a, b)
    page = Page(text)
    expected = flips_from(rows_a, rows_b)
    assert expected["right-wrong"] and expected["wrong-right"]
    assert {kind: [r["cells"][1] for r in page.rows if r["kind"] == kind] for kind in expected} == expected
    first = page.rows[0]["cells"]
    assert first[0] == "right → wrong" and first[2] == "a"  # change, id, answers, then both predictions
    pred_b = {r["id"]: r["prediction"] for r in rows_b}
    changed = sum(1 for r in rows_a if r["id"] in pred_b and pred_b[r["id"]] != r["prediction"])
    assert f"{changed} predictions changed" in page.text
    assert "2 only in ma: q0, q1" in page.text and "2 only in mb: q12, q13" in page.text
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text
    n_flips = sum(map(len, expected.values()))
    capped = Page(comparison_section(a, b, max_flips=2))
    assert f"showing 2 of {n_flips} flips (cap 2)" in capped.text
    in_order = ["right-wrong"] * len(expected["right-wrong"]) + ["wrong-right"] * len(expected["wrong-right"])
    assert [r["kind"] for r in capped.rows] == in_order[:2]


def test_sections_order_and_unknown_model(tmp_path: Path, write: Callable[..., RunResult]):
    write("zeta", varied_rows(4))
    write("alpha", varied_rows(5))
    tree = load_results(tmp_path / "results")
    sections = samples_sections(tree, max_samples=3, compare=[("alpha", "zeta")])
    assert len(sections) == 3
    assert "Samples: alpha / tiny" in sections[0] and "Samples: zeta / tiny" in sections[1]
    assert "Compare: alpha vs zeta / tiny" in sections[2]
    ids = [re.findall(r'<details class="[^"]*" id="([^"]+)"', s)[0] for s in sections]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"me-[a-z]+-[A-Za-z0-9_-]+", i) for i in ids)
    with pytest.raises(UserError, match=r"'nope'.*alpha, zeta"):
        samples_sections(tree, max_samples=3, compare=[("alpha", "nope")])


def test_demo_run_browser_embeds_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MONKEYEVAL_TASKS_PATH", raising=False)
    results = tmp_path / "results"
    args = ["run", "--task", "demo", "--ckpt", "demo", "--results", str(results), "--limit", "6"]
    outcome = CliRunner().invoke(build_app(), [*args, "--num-workers", "0"])
    assert outcome.exit_code == 0, outcome.output
    (run,) = load_results(results).runs
    page = Page(sample_browser_section(run))
    assert len(page.cards) == 6 and page.buttons["all"] == 6
    for card in page.cards:
        image = decode(card["img"])
        image.load()
        assert max(image.size) <= 160
    assert "image unavailable" not in page.text
