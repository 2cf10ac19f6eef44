"""Every report format: md table shape, csv numbers, json round trip, self-contained html, rich text."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from monkeyeval.report import Leaderboard, build_leaderboard, render
from monkeyeval.results.tree import load_results


@pytest.fixture
def board(results_root: Path, make_run) -> Leaderboard:
    make_run("A", "docvqa", 0.612, n=200, groups=["paper"], ci95=(0.58, 0.64), n_errors=2)
    make_run("A", "textvqa", 0.7, n=100, groups=["paper"])
    make_run("A", "ocrbench", 806, n=1000, groups=["paper"], aggregation="sum", metric="ocrbench")
    make_run("B|<script>", "docvqa", 0.3333333333333333, n=200, groups=["paper"])
    (results_root / "broken").mkdir()
    (results_root / "broken" / "scores.json").write_text("{")
    return build_leaderboard(load_results(results_root))


def _md_tables(text: str) -> list[list[str]]:
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _md_cells(line: str) -> list[str]:
    # split on unescaped pipes
    cells, cell, escaped = [], "", False
    for char in line.strip()[1:-1]:
        if escaped:
            cell += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
    cells.append(cell.strip())
    return cells


def test_markdown_table_shape_and_cells(board: Leaderboard) -> None:
    text = render(board, "md")
    tables = _md_tables(text)
    leaderboard = tables[0]
    header = _md_cells(leaderboard[0])
    assert header == [
        "model",
        "paper (macro)",
        "paper (micro)",
        "docvqa (anls_monkey)",
        "ocrbench (ocrbench)",
        "textvqa (anls_monkey)",
    ]
    assert all(len(_md_cells(line)) == len(header) for line in leaderboard)
    assert set(leaderboard[1].replace("|", "")) == {"-"}
    rows = {cells[0]: cells for cells in map(_md_cells, leaderboard[2:])}
    assert set(rows) == {"A", "B|<script>"}  # the pipe in the name is escaped, not a column break
    assert rows["A"][1] == "65.6"  # macro of 61.2 and 70.0; ocrbench (sum) excluded
    assert rows["A"][2] == "64.1"  # micro: (0.612*200 + 0.7*100) / 300
    assert rows["A"][3] == "61.2 [58.0, 64.0] n=200 ⚠"  # health mark: 2 errors
    assert rows["A"][4] == "806 n=1000"
    assert rows["B|<script>"][1] == "1 of 3 tasks (missing: ocrbench, textvqa)"
    assert "## Health" in text and "## Skipped files" in text and "broken" in text
    runs = {tuple(cells[:2]): cells for cells in map(_md_cells, tables[3][2:])}  # leaderboard, groups, health
    assert runs[("A", "docvqa")][2:5] == ["/ckpt/A", "", "bfloat16"]  # checkpoint, (no sha), dtype
    assert runs[("A", "docvqa")][-3] == "b" * 12  # prompt hash, shortened


def test_csv_parses_to_the_same_numbers(board: Leaderboard) -> None:
    frame = pd.read_csv(io.StringIO(render(board, "csv")))
    tasks = frame[frame["kind"] == "task"].set_index(["model", "name"])
    for _, row in board.tasks.iterrows():
        parsed = tasks.loc[(row["model"], row["task"])]
        assert parsed["score"] == row["score"]  # exact: the csv keeps full precision
        assert parsed["n"] == row["n"] and parsed["n_errors"] == row["n_errors"]
    groups = frame[frame["kind"] == "group"].set_index(["model", "name"])
    assert groups.loc[("A", "paper"), "score"] == pytest.approx((0.612 + 0.7) / 2)
    assert groups.loc[("A", "paper"), "score_micro"] == pytest.approx((0.612 * 200 + 0.7 * 100) / 300)
    assert pd.isna(groups.loc[("B|<script>", "paper"), "score"])
    assert not groups.loc[("B|<script>", "paper"), "complete"]
    assert groups.loc[("B|<script>", "paper"), "missing_tasks"] == "ocrbench;textvqa"


def test_json_round_trip(board: Leaderboard) -> None:
    text = render(board, "json")
    again = Leaderboard.from_dict(json.loads(text))
    assert again.to_dict() == board.to_dict()
    assert render(again, "md") == render(board, "md")
    assert json.loads(text)["problems"] and "broken" in json.loads(text)["problems"][0]


class _StrictParser(HTMLParser):
    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += attrs
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>, open: {self.stack}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_balanced_and_escaped(board: Leaderboard) -> None:
    text = render(board, "html")
    assert "http://" not in text and "https://" not in text
    parser = _StrictParser()
    parser.feed(text)
    parser.close()
    assert parser.stack == []
    assert "style" in parser.tags and "table" in parser.tags
    assert not parser.tags & {"link", "img", "iframe"}
    assert text.count("<script") == 1 and "<script>" in text  # the page's own inline script, no src
    assert not any(name in {"src", "href"} for name, _ in parser.attrs)
    body = "".join(parser.text)
    assert "B|<script>" in body  # the model named <script> is escaped text
    titles = [value for name, value in parser.attrs if name == "title"]
    assert "61.2 [58.0, 64.0] n=200 ⚠" in titles  # the run's full cell text as its tooltip
    assert "[58.0, 64.0] n=200" in body and "⚠" in body


def test_rich_text_lists_scores_and_health(board: Leaderboard) -> None:
    text = render(board, "rich", width=300)
    assert "Leaderboard" in text and "Health" in text
    assert "61.2 [58.0, 64.0] n=200 ⚠" in text
    assert "806 n=1000" in text


def test_unknown_format_is_rejected(board: Leaderboard) -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        render(board, "xlsx")


def test_rich_shows_markup_like_names_literally(results_root: Path, make_run) -> None:
    make_run("[bold]M[/bold]", "docvqa[val]", 0.5, folder="m/t")
    text = render(build_leaderboard(load_results(results_root)), "rich", width=300)
    assert "[bold]M[/bold]" in text and "docvqa[val] (anls_monkey)" in text


def test_rich_report_fits_80_columns_without_splitting_words(board: Leaderboard) -> None:
    from rich.cells import cell_len

    text = render(board, "rich", width=80)
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    assert "Runs (columns 1-" in text  # the 12-column Runs table is cut into chunks that fit
    assert sum("┃ model" in line and "┃ task" in line for line in lines) >= 3  # keys repeated per chunk
    words = {word for line in lines for cell in line.split("│") for word in cell.split()}
    assert {"docvqa", "(anls_monkey)", "[58.0,", "64.0]", "n_skipped_lines", "checkpoint_sha256"} <= words
