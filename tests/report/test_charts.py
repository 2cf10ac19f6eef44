"""SVG charts (radar geometry, bars, escaping, determinism) and `render_plot` (svg, png, user errors)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from test_html_page import EVIL, Tree, write_rich_results

from monkeyeval.core.errors import UserError
from monkeyeval.report import Leaderboard, build_leaderboard
from monkeyeval.report.html import bars_svg, radar_svg, render_plot
from monkeyeval.report.html.charts import PALETTE, axis_maximum, radar_geometry, svg_document
from monkeyeval.results.tree import load_results

AXES = ("a", "b", "c", "d")


def _points(polygon_points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in polygon_points.split())]


def test_radar_vertices_follow_the_values_and_none_sits_at_the_centre() -> None:
    series = [("full", [100.0, 50.0, 25.0, None]), ("other", [0.0, 100.0, 100.0, 100.0])]
    svg = radar_svg(AXES, series, maximum=100, title="t")
    root = Tree(svg).root
    polygons = {
        p.attrs["data-series"]: _points(p.attrs["points"]) for p in root.find("polygon", class_="series")
    }
    geo = radar_geometry()
    for name, values in series:
        for index, (value, (x, y)) in enumerate(zip(values, polygons[name], strict=True)):
            angle = -math.pi / 2 + 2 * math.pi * index / len(AXES)
            r = geo.radius * (value or 0.0) / 100
            assert (x, y) == pytest.approx(
                (geo.cx + r * math.cos(angle), geo.cy + r * math.sin(angle)), abs=0.01
            )
    outer = _points(root.find("polygon", class_="ring")[-1].attrs["points"])
    assert polygons["full"][0] == pytest.approx(outer[0], abs=0.01)  # a value at max lies on the outer ring
    assert polygons["full"][3] == pytest.approx((geo.cx, geo.cy), abs=0.01)  # None: the centre
    dots = [c.attrs["data-axis"] for c in root.find("circle") if c.attrs["data-series"] == "full"]
    assert dots == ["a", "b", "c"]  # ... and no dot for it


def test_radar_per_axis_maxima_and_clamping() -> None:
    svg = radar_svg(("x", "y", "z"), [("m", [500.0, 50.0, 150.0])], maximum=[1000, 100, 100], title="t")
    root = Tree(svg).root
    geo = radar_geometry()
    points = _points(root.find("polygon", class_="series")[0].attrs["points"])
    assert math.dist(points[0], (geo.cx, geo.cy)) == pytest.approx(geo.radius / 2, abs=0.01)
    assert math.dist(points[2], (geo.cx, geo.cy)) == pytest.approx(geo.radius, abs=0.01)  # 150 of 100
    labels = [t.all_text() for t in root.find("text", class_="axis-label")]
    assert labels == ["x (/1000)", "y (/100)", "z (/100)"]


def test_charts_escape_labels_use_the_palette_and_are_deterministic() -> None:
    series = [(EVIL, [10.0, 20.0, 30.0]), ("b&c", [1.0, None, 3.0])]
    one = radar_svg(("<t>", "u", "v"), series, maximum=100, title="<title>")
    assert one == radar_svg(("<t>", "u", "v"), series, maximum=100, title="<title>")
    assert EVIL not in one and "<t>" not in one and "&lt;script&gt;" in one
    Tree(one)  # balanced
    colours = [p.attrs["stroke"] for p in Tree(one).root.find("polygon", class_="series")]
    assert colours == list(PALETTE[:2])
    bars = bars_svg(
        ("<t>", "u", "v"), series, maximum=100, title="x", intervals=[[(5, 15), None, None], [None] * 3]
    )
    assert bars == bars_svg(
        ("<t>", "u", "v"), series, maximum=100, title="x", intervals=[[(5, 15), None, None], [None] * 3]
    )
    assert EVIL not in bars and "http" not in one + bars


def test_bars_heights_and_whiskers_follow_the_values() -> None:
    svg = bars_svg(
        ("p", "q"),
        [("m", [50.0, None]), ("n", [100.0, 25.0])],
        maximum=100,
        title="t",
        intervals=[[(40.0, 60.0), None], [None, None]],
    )
    root = Tree(svg).root
    rects = {(r.attrs["data-series"], r.attrs["data-category"]): r for r in root.find("rect", class_="bar")}
    assert set(rects) == {("m", "p"), ("n", "p"), ("n", "q")}  # None: no bar
    full = float(rects[("n", "p")].attrs["height"])
    assert float(rects[("m", "p")].attrs["height"]) == pytest.approx(full / 2, abs=0.01)
    assert float(rects[("n", "q")].attrs["height"]) == pytest.approx(full / 4, abs=0.01)
    (whisker,) = root.find("path", class_="whisker")
    base = float(rects[("m", "p")].attrs["y"]) + float(rects[("m", "p")].attrs["height"])
    ys = [float(v) for v in whisker.attrs["d"].split("M")[1].replace("V", " ").split()[1:]]
    assert ys == pytest.approx([base - full * 0.4, base - full * 0.6], abs=0.02)


def test_axis_maximum() -> None:
    assert axis_maximum("mean", [66.5]) == 100 and axis_maximum("sum", [514]) == 1000
    assert axis_maximum("corpus", [123.0]) == 150 and axis_maximum("sum", [1234, None]) == 1300


@pytest.fixture
def rich_board(results_root: Path, run_writer) -> Leaderboard:
    write_rich_results(results_root, run_writer)
    return build_leaderboard(load_results(results_root))


def test_render_plot_svg_is_a_standalone_document(rich_board: Leaderboard) -> None:
    data = render_plot(rich_board, "radar", "svg")
    text = data.decode("utf-8")
    assert text.startswith("<?xml") and '<svg xmlns="http://www.w3.org/2000/svg"' in text
    assert text == svg_document(
        text.split("\n", 1)[1].replace(' xmlns="http://www.w3.org/2000/svg"', "").rstrip("\n")
    )
    root = Tree(text.split("\n", 1)[1]).root
    assert len(root.find("polygon", class_="series")) == 4  # one per model with a full run in monkey_paper
    bars = render_plot(rich_board, "bars", "svg", group="docs").decode()
    assert {
        r.attrs["data-category"] for r in Tree(bars.split("\n", 1)[1]).root.find("rect", class_="bar")
    } == {"deepform", "KLC"}


def test_render_plot_png_uses_matplotlib(rich_board: Leaderboard) -> None:
    pytest.importorskip("matplotlib")
    for plot in ("radar", "bars"):
        data = render_plot(rich_board, plot, "png")
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"matplotlib" in data.lower()  # the Software text chunk


def test_png_without_matplotlib_says_how_to_install(rich_board: Leaderboard, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(UserError, match=r"pip install 'monkeyeval\[plots\]'.*--format svg"):
        render_plot(rich_board, "radar", "png")


def test_nothing_to_plot_names_the_fix(rich_board: Leaderboard, results_root: Path, run_writer) -> None:
    with pytest.raises(UserError, match="--group G"):
        render_plot(rich_board, "radar", "svg", group="docs")  # 2 tasks
    with pytest.raises(UserError, match="unknown group 'nope'"):
        render_plot(rich_board, "radar", "svg", group="nope")
    other = results_root.parent / "other"
    other.mkdir()
    run_writer(other, "M", "a", 0.5, groups=["g"])
    run_writer(other, "M", "b", 0.5, groups=["g"], limit=3)
    small = build_leaderboard(load_results(other))
    with pytest.raises(UserError, match="--group G"):
        render_plot(small, "radar", "svg")


def test_radar_draws_published_references_as_dashed_outlines() -> None:
    svg = radar_svg(AXES, [("run", [50.0] * 4)], maximum=100, title="t", references=[("paper", [100.0] * 4)])
    root = Tree(svg).root
    (outline,) = root.find("polygon", class_="reference")
    assert outline.attrs["fill"] == "none" and outline.attrs["stroke-dasharray"] == "4 3"
    ring = _points(root.find("polygon", class_="ring")[-1].attrs["points"])
    for vertex, corner in zip(_points(outline.attrs["points"]), ring, strict=True):
        assert vertex == pytest.approx(corner, abs=0.01)  # 100 of 100: on the outer ring
    assert [t.all_text() for t in root.find("g", class_="legend")[0].find("text")] == ["run", "paper"]


def test_chart_data_takes_references_covering_every_axis(rich_board: Leaderboard) -> None:
    from monkeyeval.report.html.plots import chart_data
    from monkeyeval.report.published import PublishedScore

    axes = tuple(rich_board.task_names[:3])

    def score(model: str, task: str, value: float) -> PublishedScore:
        return PublishedScore(model, (), task, value, "src", "paper")

    published = [score("Full", task, 90.0 + i) for i, task in enumerate(axes)]
    published += [score("Partial", axes[0], 10.0), score("Huge", axes[0], 1250.0)]
    published += [score("Huge", task, 1.0) for task in axes[1:]]
    data = chart_data(rich_board, axes, "g", published=published)
    assert [name for name, _ in data.references] == ["Full", "Huge"]  # "Partial" lacks two axes
    assert data.references[0][1] == (90.0, 91.0, 92.0)
    assert data.maxima[0] >= 1250.0  # the axis grows to show a published number above it
