"""The HTML leaderboard page: structure, best marks, sort keys, CI whiskers, radar charts, published
reference rows and deltas, collapsed detail tables, no URLs, escaping."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from monkeyeval.core.numbers import display_scale, format_delta, format_score
from monkeyeval.report import Leaderboard, build_leaderboard, render
from monkeyeval.report.html import render_html
from monkeyeval.report.html.board import build_board_table
from monkeyeval.report.published import published_scores, reference_for
from monkeyeval.results.tree import load_results

EVIL = "<script>alert(1)</script>"
PAPER = ("docvqa_test", "chartqa", "infovqa_test")
PAPER_GROUP = {"monkey_paper": list(PAPER)}
DOCS_GROUP = {"docs": ["deepform", "KLC"]}
OCR_BREAKDOWN = {
    "Text Recognition": {"score": 200, "n": 300},
    "Key Information Extraction": {"score": 120, "n": 200},
}


def edit_scores(run_dir: Path, **changes: Any) -> None:
    """Rewrite keys of a run's scores.json (`checkpoint=` sets the fingerprint's model checkpoint)."""
    path = run_dir / "scores.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    checkpoint = changes.pop("checkpoint", None)
    if checkpoint is not None:
        data["fingerprint"]["model"]["checkpoint"] = checkpoint
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def write_rich_results(root: Path, write_run: Callable[..., Path]) -> None:
    """Four models, two groups (one of 3 tasks, one of 2), partial groups, OCRBench with a breakdown,
    a run with errors, a --limit run, a model named like a script, a run of echo840/Monkey."""

    def run(model: str, task: str, score: float, **fields: Any) -> Path:
        checkpoint = fields.pop("checkpoint", None)
        run_dir = write_run(root, model, task, score, folder=f"{len(list(root.iterdir()))}/{task}", **fields)
        if checkpoint:
            edit_scores(run_dir, checkpoint=checkpoint)
        return run_dir

    paper = {"groups": ["monkey_paper"], "group_members": PAPER_GROUP}
    docs = {"groups": ["docs"], "group_members": DOCS_GROUP}
    monkey = {"checkpoint": "echo840/Monkey"}
    run("Monkey", "docvqa_test", 0.655, ci95=(0.64, 0.67), n=200, **paper, **monkey)
    run("Monkey", "chartqa", 0.66, ci95=(0.62, 0.70), **paper, **monkey)
    run("Monkey", "infovqa_test", 0.36, **paper, **monkey)
    run("Monkey", "deepform", 0.41, **docs, **monkey)
    run("Monkey", "KLC", 0.30, **docs, **monkey)
    ocr = run(
        "Monkey", "ocrbench", 520, n=1000, aggregation="sum", metric="ocrbench", ci95=(490, 550), **monkey
    )
    edit_scores(ocr, breakdown=OCR_BREAKDOWN)
    run("Rival", "docvqa_test", 0.70, ci95=(0.66, 0.74), n=200, **paper)
    run("Rival", "chartqa", 0.66, **paper)  # a tie with Monkey
    run("Rival", "infovqa_test", 0.30, n_errors=3, **paper)
    run("Rival", "deepform", 0.35, **docs)
    run("Rival", "KLC", 0.40, **docs)
    run("Rival", "ocrbench", 600, n=1000, aggregation="sum", metric="ocrbench")
    run("Limited", "docvqa_test", 0.99, n=5, limit=5, **paper)  # highest, but a --limit run
    run("Limited", "chartqa", 0.5, **paper)
    run(EVIL, "docvqa_test", 0.2, **paper)


@pytest.fixture
def rich_board(results_root: Path, run_writer) -> Leaderboard:
    write_rich_results(results_root, run_writer)
    return build_leaderboard(load_results(results_root))


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def all_text(self) -> str:
        return "".join(self.text) + "".join(child.all_text() for child in self.children)

    def find(self, tag: str, **attrs: str) -> list[Node]:
        out = [self] if self.tag == tag and all(_has(self, k, v) for k, v in attrs.items()) else []
        for child in self.children:
            out += child.find(tag, **attrs)
        return out

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


def _has(node: Node, key: str, value: str) -> bool:
    if key == "class_":
        return value in node.classes()
    return node.attrs.get(key) == value


class Tree(HTMLParser):
    """A small DOM from html.parser; raises on an unbalanced end tag."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self, text: str) -> None:
        super().__init__()
        self.root = Node("#root", {})
        self.stack = [self.root]
        self.feed(text)
        self.close()
        assert self.stack == [self.root], [node.tag for node in self.stack]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {key: value or "" for key, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {key: value or "" for key, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"unbalanced </{tag}>, open: {[n.tag for n in self.stack]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text.append(data)


def board_grid(root: Node) -> tuple[list[str], dict[str, dict[str, Node]], list[Node]]:
    """(header names, model -> header -> cell, reference rows) of the leaderboard table."""
    (table,) = root.find("table", class_="board")
    headers = [th.find("button")[0].all_text() for th in table.find("th")]
    (models,) = table.find("tbody", class_="models")
    grid = {}
    for tr in models.find("tr"):
        cells = tr.find("td")
        grid[cells[0].all_text()] = dict(zip(headers, cells, strict=True))
    refs = [tr for body in table.find("tbody", class_="refs") for tr in body.find("tr")]
    return headers, grid, refs


def test_headers_put_groups_first_then_tasks_with_metrics(rich_board: Leaderboard) -> None:
    root = Tree(render_html(rich_board)).root
    headers, grid, _ = board_grid(root)
    assert headers == ["model", *rich_board.group_names, *rich_board.task_names]
    (table,) = root.find("table", class_="board")
    ths = table.find("th")
    groups, tasks = len(rich_board.group_names), len(rich_board.task_names)
    assert (groups, tasks) == (2, 6)
    assert [th.attrs["class"] for th in ths[1:]] == ["group"] * groups + ["task"] * tasks
    ocr_th = ths[headers.index("ocrbench")]
    assert ocr_th.find("small")[0].all_text() == "ocrbench"  # the task's metric beneath its name
    assert set(grid) == set(rich_board.models)


def test_best_marks_only_comparable_cells_and_all_ties(rich_board: Leaderboard) -> None:
    _, grid, refs = board_grid(Tree(render_html(rich_board)).root)
    best = {
        (model, header) for model, row in grid.items() for header, td in row.items() if "best" in td.classes()
    }
    # recompute from the inputs: per column, the top display value among full runs and complete groups
    expected = set()
    for column in ["docvqa_test", "chartqa", "infovqa_test", "deepform", "KLC", "ocrbench"]:
        rows = rich_board.tasks[(rich_board.tasks["task"] == column) & rich_board.tasks["limit"].isna()]
        top = max(rows["score"])
        agg = str(rows["aggregation"].iloc[0])
        expected |= {
            (m, column)
            for m, s in zip(rows["model"], rows["score"], strict=True)
            if format_score(s, agg) == format_score(top, agg)
        }
    for group in rich_board.group_names:
        rows = rich_board.groups[(rich_board.groups["group"] == group) & rich_board.groups["complete"]]
        rows = rows[rows["macro"].notna()]
        top = max(rows["macro"])
        expected |= {
            (m, group)
            for m, s in zip(rows["model"], rows["macro"], strict=True)
            if format_score(s, "mean") == format_score(top, "mean")
        }
    assert best == expected
    assert {("Monkey", "chartqa"), ("Rival", "chartqa")} <= best  # a tie: both marked
    assert ("Limited", "docvqa_test") not in best  # 0.99 but a --limit run
    assert ("Rival", "docvqa_test") in best
    for td in (grid[m][h] for m, h in best):
        assert td.find("strong", class_="num") and td.find("span", class_="mark")
    assert not any("best" in td.classes() for tr in refs for td in tr.find("td"))


def test_sort_keys_are_raw_scores_and_missing_is_empty(rich_board: Leaderboard) -> None:
    _, grid, _ = board_grid(Tree(render_html(rich_board)).root)
    for _, row in rich_board.tasks.iterrows():
        assert float(grid[row["model"]][row["task"]].attrs["data-sort"]) == row["score"]
    for _, row in rich_board.groups.iterrows():
        key = grid[row["model"]][row["group"]].attrs["data-sort"]
        assert key == ("" if row["macro"] is None or row["macro"] != row["macro"] else repr(row["macro"]))
    assert grid[EVIL]["chartqa"].attrs["data-sort"] == ""  # no run: sorts last
    assert grid[EVIL]["model"].attrs["data-sort"] == EVIL


def test_ci_whiskers_match_the_interval(rich_board: Leaderboard) -> None:
    _, grid, _ = board_grid(Tree(render_html(rich_board)).root)
    checked = 0
    for _, row in rich_board.tasks.iterrows():
        (svg,) = grid[row["model"]][row["task"]].find("svg", class_="ci")
        width = float(svg.attrs["width"])
        top = 1000.0 if row["aggregation"] == "sum" else 100.0
        scale = display_scale(str(row["aggregation"]))
        (point,) = svg.find("circle", class_="point")
        assert float(point.attrs["cx"]) == pytest.approx(width * row["score"] * scale / top, abs=0.01)
        ranges = svg.find("line", class_="range")
        if row["ci95_low"] is None or row["ci95_low"] != row["ci95_low"]:
            assert ranges == []
            continue
        (line,) = ranges
        assert float(line.attrs["x1"]) == pytest.approx(width * row["ci95_low"] * scale / top, abs=0.01)
        assert float(line.attrs["x2"]) == pytest.approx(width * row["ci95_high"] * scale / top, abs=0.01)
        checked += 1
    assert checked == 4


def test_health_limit_and_incomplete_group_marks(rich_board: Leaderboard) -> None:
    _, grid, _ = board_grid(Tree(render_html(rich_board)).root)
    warn = grid["Rival"]["infovqa_test"].find("span", class_="warn")
    assert warn and warn[0].all_text() == "⚠" and "3 errors" in warn[0].attrs["title"]
    assert not grid["Rival"]["docvqa_test"].find("span", class_="warn")
    limited = grid["Limited"]["docvqa_test"]
    assert "limit" in limited.classes() and limited.find("span", class_="lim")[0].all_text() == "limit=5"
    partial = grid["Limited"]["monkey_paper"]
    row = rich_board.group_row("Limited", "monkey_paper")
    assert row is not None
    assert partial.all_text() == f"{len(row['present'])} of {len(row['tasks'])}"
    assert "infovqa_test" in partial.attrs["title"] and "docvqa_test" in partial.attrs["title"]
    assert "incomplete" in partial.classes()
    complete = grid["Monkey"]["monkey_paper"]
    macro = rich_board.group_row("Monkey", "monkey_paper")
    assert macro is not None
    (number,) = complete.find("strong", class_="num") + complete.find("span", class_="num")
    assert number.all_text() == format_score(macro["macro"], "mean")
    assert f"micro {format_score(macro['micro'], 'mean')}" in complete.all_text()


def test_reference_rows_and_delta_for_a_published_checkpoint(rich_board: Leaderboard) -> None:
    root = Tree(render_html(rich_board)).root
    headers, grid, refs = board_grid(root)
    on_board = [s for s in published_scores() if s.task in rich_board.task_names]
    assert {tr.find("td")[0].text[0] for tr in refs} == {s.model for s in on_board}
    for tr in refs:
        cells = dict(zip(headers, tr.find("td"), strict=True))
        label = cells["model"].text[0]
        assert cells["model"].attrs["title"].startswith("published: ")
        for score in (s for s in on_board if s.model == label):
            cell = cells[score.task]
            agg = "sum" if score.task == "ocrbench" else "mean"
            (number,) = cell.find("span", class_="num")
            assert number.all_text() == format_score(score.value / display_scale(agg), agg)
            assert score.source in cell.attrs["title"]
    sources = [li.all_text() for li in root.find("ol", class_="sources")[0].find("li")]
    assert sorted(sources) == sorted({s.source for s in on_board})
    for task in ("docvqa_test", "ocrbench"):
        reference = reference_for("echo840/Monkey", task)
        assert reference is not None
        row = rich_board.task_row("Monkey", task)
        assert row is not None
        agg = str(row["aggregation"])
        change = (row["score"] * display_scale(agg) - reference.value) / display_scale(agg)
        (delta,) = grid["Monkey"][task].find("span", class_="delta")
        assert delta.all_text() == f"Δ {format_delta(change, agg)} vs {reference.origin}"
    assert not grid["Rival"]["docvqa_test"].find("span", class_="delta")  # /ckpt/Rival: no reference


def test_radar_per_eligible_group_with_one_polygon_per_model(rich_board: Leaderboard) -> None:
    root = Tree(render_html(rich_board)).root
    figures = root.find("figure", class_="radar")
    assert [f.attrs["data-group"] for f in figures] == ["monkey_paper"]  # docs has 2 tasks, ocrbench 1
    polygons = figures[0].find("polygon", class_="series")
    with_full_runs = {"Monkey", "Rival", "Limited", EVIL}  # Limited: its full chartqa run
    assert [p.attrs["data-series"] for p in polygons] == sorted(with_full_runs)
    assert all(len(p.attrs["points"].split()) == 3 for p in polygons)


def test_details_sections_legend_and_breakdown(rich_board: Leaderboard) -> None:
    root = Tree(render_html(rich_board)).root
    summaries = [d.find("summary")[0].find("h2")[0].all_text() for d in root.find("details")]
    assert summaries == ["Groups", "Breakdown: ocrbench (ocrbench)", "Health", "Runs"]
    assert all("open" not in d.attrs for d in root.find("details"))
    (runs,) = root.find("details", class_="runs")
    assert "echo840/Monkey" in runs.all_text()
    breakdown = root.find("details", class_="breakdown")[0]
    assert "Key Information Extraction" in breakdown.all_text()


def test_no_urls_and_escaped_injection(rich_board: Leaderboard) -> None:
    text = render_html(rich_board, sections=["<section id='s1'>one</section>", "<div id='s2'>two</div>"])
    root = Tree(text).root
    assert "http://" not in text and "https://" not in text
    assert not root.find("link") and not root.find("iframe")
    scripts = root.find("script")
    assert len(scripts) == 1 and "src" not in scripts[0].attrs
    assert EVIL not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.index("id='s1'") < text.index("id='s2'")  # sections verbatim and in order
    assert text.index('class="board"') < text.index("id='s1'")
    csp = [m for m in root.find("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0].attrs["content"]


def test_render_dispatches_to_the_new_page(rich_board: Leaderboard) -> None:
    assert render(rich_board, "html") == render_html(rich_board)


def test_table_scrolls_in_its_box_with_a_sticky_model_column(rich_board: Leaderboard) -> None:
    text = render_html(rich_board)
    root = Tree(text).root
    (wrap,) = [div for div in root.find("div", class_="wrap") if div.find("table", class_="board")]
    assert wrap.children[0].tag == "table"
    assert ".wrap { overflow-x: auto;" in text
    assert "table.board td:first-child {" in text.replace(",\n", ", ") and "position: sticky; left: 0" in text


def test_a_mixed_metric_version_column_has_no_best(results_root: Path, make_run) -> None:
    make_run("A", "t", 0.5, metric_version="1")
    make_run("B", "t", 0.6, metric_version="2")
    table = build_board_table(build_leaderboard(load_results(results_root)), published=())
    assert not any(cell.best for row in table.rows for cell in row.cells)
    assert table.references == ()
