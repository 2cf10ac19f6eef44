"""Per-category breakdown tables in the report (md, html, rich, json; csv leaves them out)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monkeyeval.report import Leaderboard, build_leaderboard, render
from monkeyeval.results.tree import load_results

# Hand-computed OCRBench sums: A = 250 + 150 + 160 + 120 + 50 = 730 of 1000
BREAKDOWN_A = {
    "Text Recognition": {
        "score": 250,
        "n": 300,
        "members": {
            "Regular Text Recognition": {"score": 45, "n": 50},
            "Handwriting Recognition": {"score": 30, "n": 50},
        },
    },
    "Scene Text-centric VQA": {"score": 150, "n": 200},
    "Doc-oriented VQA": {"score": 160, "n": 200},
    "Key Information Extraction": {"score": 120, "n": 200},
    "Handwritten Mathematical Expression Recognition": {"score": 50, "n": 100},
}
BREAKDOWN_B = {
    "Text Recognition": {"score": 201, "n": 300},
    "Scene Text-centric VQA": {"score": 99, "n": 200},
}


def add_breakdown(run_dir: Path, breakdown: object) -> None:
    path = run_dir / "scores.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["breakdown"] = breakdown
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def board(results_root: Path, make_run) -> Leaderboard:
    add_breakdown(make_run("A", "ocrbench", 730, n=1000, aggregation="sum", metric="ocrbench"), BREAKDOWN_A)
    add_breakdown(make_run("B", "ocrbench", 300, n=500, aggregation="sum", metric="ocrbench"), BREAKDOWN_B)
    make_run("A", "docvqa", 0.5, n=10)  # no breakdown: no table
    return build_leaderboard(load_results(results_root))


def test_markdown_breakdown_table(board: Leaderboard) -> None:
    text = render(board, "md")
    section = text.split("## Breakdown: ocrbench (ocrbench)\n", 1)[1].split("\n\n", 1)[0]
    lines = section.strip().splitlines()
    assert lines[0] == "| category | A | B |"
    assert lines[2] == "| Text Recognition | 250 n=300 | 201 n=300 |"
    assert lines[3] == "|   ↳ Regular Text Recognition | 45 n=50 | — |"
    assert lines[4] == "|   ↳ Handwriting Recognition | 30 n=50 | — |"
    assert lines[5] == "| Scene Text-centric VQA | 150 n=200 | 99 n=200 |"
    assert lines[-1] == "| Handwritten Mathematical Expression Recognition | 50 n=100 | — |"
    assert "Breakdown: docvqa" not in text


def test_html_rich_and_json_carry_the_breakdown(board: Leaderboard) -> None:
    html_text = render(board, "html")
    assert "<h2>Breakdown: ocrbench (ocrbench)</h2>" in html_text
    assert "<td>Key Information Extraction</td><td>120 n=200</td><td>—</td>" in html_text
    rich_text = render(board, "rich")
    assert "Breakdown: ocrbench" in rich_text and "Doc-oriented VQA" in rich_text
    payload = json.loads(render(board, "json"))
    row = next(r for r in payload["tasks"] if r["model"] == "A" and r["task"] == "ocrbench")
    assert [entry["category"] for entry in row["breakdown"]] == list(BREAKDOWN_A)
    assert row["breakdown"][0]["members"][1] == {
        "category": "Handwriting Recognition",
        "score": 30.0,
        "n": 50,
        "members": [],
    }
    assert sum(entry["score"] for entry in row["breakdown"]) == row["score"] == 730
    assert Leaderboard.from_dict(payload).to_dict() == payload


def test_csv_has_no_breakdown_rows(board: Leaderboard) -> None:
    assert "Text Recognition" not in render(board, "csv")


def test_malformed_breakdown_skips_the_run_with_a_reason(results_root: Path, make_run) -> None:
    add_breakdown(make_run("A", "ocrbench", 1, aggregation="sum", metric="ocrbench"), {"X": {"score": 1}})
    tree = load_results(results_root)
    assert not tree.runs
    assert "breakdown.X.n must be a non-negative integer" in str(tree.problems[0])
