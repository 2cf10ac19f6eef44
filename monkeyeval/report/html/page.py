"""The HTML leaderboard: one self-contained page (inline CSS and JS, no URL at all, works from file://).

Layout: title and legend; the models x columns table (groups first, then tasks; sortable; published
reference rows beneath, numbered sources under the table); a radar chart per eligible group; the Groups,
per-category Breakdown, Health, Runs and Skipped-files tables collapsed in `<details>`; then the caller's
`sections` (trusted HTML of our own code, inserted verbatim, in order). Every value from the data is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from monkeyeval.report.html.assets import CONTENT_SECURITY_POLICY, SCRIPT, STYLE
from monkeyeval.report.html.board import BoardTable, Cell, Column, Row, build_board_table
from monkeyeval.report.html.charts import radar_svg, whisker_svg
from monkeyeval.report.html.plots import radar_groups
from monkeyeval.report.leaderboard import Leaderboard
from monkeyeval.report.tables import (
    HEALTH_MARK,
    LEGEND,
    TableView,
    detail_tables,
)

BEST_MARK = "★"
PAGE_LEGEND = (
    f"{BEST_MARK} bold = best measured score of the column (ties all marked; only full runs on one metric "
    "version and complete groups compete; published rows never do). Bars under a score: the 95% CI on the "
    "column's 0-100 (sums: 0-1000) scale. Δ = this run minus the published number for its checkpoint, on "
    "the display scale. Click a column header (or focus it and press Enter) to sort; missing values sort "
    "last. Italic rows: published numbers (sources below the table)."
)


def render_html(
    board: Leaderboard, *, sections: Sequence[str] = (), title: str = "monkeyeval leaderboard"
) -> str:
    """The whole page as one string; `sections` are trusted HTML fragments appended after the report."""
    table = build_board_table(board)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CONTENT_SECURITY_POLICY)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="legend">{escape(LEGEND)}</p>',
        f'<p class="legend">{escape(PAGE_LEGEND)}</p>',
        '<section class="leaderboard">',
        board_table_html(table),
        _sources_html(table.footnotes),
        "</section>",
        _charts_html(board),
        _details_html(board),
    ]
    if sections:
        parts += ['<section class="extra">', *sections, "</section>"]
    parts += [f"<script>{SCRIPT}</script>", "</body>", "</html>", ""]
    return "\n".join(part for part in parts if part)


def board_table_html(table: BoardTable) -> str:
    """The sortable leaderboard table (model rows, then a `refs` body of published rows)."""
    head = [
        '<th scope="col" data-type="text" aria-sort="none"><button class="sort" type="button">model'
        "</button></th>"
    ]
    head += [_header(column) for column in table.columns]
    lines = ['<div class="wrap">', '<table class="board">', "<thead><tr>" + "".join(head) + "</tr></thead>"]
    lines.append('<tbody class="models">')
    lines += [_row(row, table.columns, order) for order, row in enumerate(table.rows)]
    lines.append("</tbody>")
    if table.references:
        lines.append('<tbody class="refs">')
        lines += [_row(row, table.columns, order) for order, row in enumerate(table.references)]
        lines.append("</tbody>")
    lines += ["</table>", "</div>"]
    return "\n".join(lines)


def view_table_html(view: TableView) -> str:
    """A plain table of strings (breakdowns, groups, health, runs), in a horizontally scrolling box."""
    lines = ['<div class="wrap">', "<table>", "<thead><tr>"]
    lines += [f'<th scope="col">{escape(header)}</th>' for header in view.headers]
    lines += ["</tr></thead>", "<tbody>"]
    lines += ["<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in view.rows]
    lines += ["</tbody>", "</table>", "</div>"]
    return "\n".join(lines)


def _header(column: Column) -> str:
    kind = "group" if column.kind == "group" else "task"
    return (
        f'<th scope="col" class="{kind}" data-type="number" aria-sort="none" title="{escape(column.title)}">'
        f'<button class="sort" type="button">{escape(column.name)}</button>'
        f"<small>{escape(column.detail)}</small></th>"
    )


def _row(row: Row, columns: Sequence[Column], order: int) -> str:
    label = escape(row.label)
    if row.reference:
        notes = "".join(f'<sup class="fn">[{n}]</sup>' for n in row.notes)
        first = f'<td data-sort="{label}" title="{escape("published: " + row.source)}">{label}{notes}</td>'
    else:
        first = f'<td data-sort="{label}">{label}</td>'
    cells = [_cell(cell, column) for cell, column in zip(row.cells, columns, strict=True)]
    css = ' class="reference"' if row.reference else ""
    return f'<tr data-order="{order}"{css}>{first}{"".join(cells)}</tr>'


def _cell(cell: Cell, column: Column) -> str:
    classes = ["score"]
    classes += [
        name
        for name, on in (
            ("best", cell.best),
            ("health", bool(cell.health)),
            ("limit", cell.limit is not None),
            ("incomplete", cell.incomplete),
            ("ref", cell.reference),
        )
        if on
    ]
    sort = "" if cell.sort is None else repr(float(cell.sort))
    title = f' title="{escape(cell.title)}"' if cell.title else ""
    tag = "strong" if cell.best else "span"
    inner = [f'<{tag} class="num">{escape(cell.text)}</{tag}>']
    if cell.best:
        inner.append(f'<span class="mark" title="best measured score in this column">{BEST_MARK}</span>')
    if cell.health:
        inner.append(f' <span class="warn" title="{escape(cell.health)}">{HEALTH_MARK}</span>')
    if cell.limit is not None:
        inner.append(
            f' <span class="lim" title="a --limit run of the first {cell.limit} samples; not '
            f'comparable, never marked best">limit={cell.limit}</span>'
        )
    if cell.point is not None and column.kind == "task":
        inner.append(whisker_svg(cell.point, cell.interval, column.maximum))
    if cell.sub:
        inner.append(f'<span class="sub">{escape(cell.sub)}</span>')
    if cell.delta:
        inner.append(f'<span class="delta" title="{escape(cell.delta_title)}">{escape(cell.delta)}</span>')
    return f'<td class="{" ".join(classes)}" data-sort="{sort}"{title}>{"".join(inner)}</td>'


def _sources_html(footnotes: Sequence[str]) -> str:
    if not footnotes:
        return ""
    items = "".join(f"<li>{escape(source)}</li>" for source in footnotes)
    return f'<p class="note">Published numbers (italic rows) from:</p><ol class="sources">{items}</ol>'


def _charts_html(board: Leaderboard) -> str:
    charts = radar_groups(board)
    if not charts:
        return ""
    figures = [
        f'<figure class="radar" data-group="{escape(chart.title)}">'
        + radar_svg(
            chart.axes,
            chart.series,
            maximum=chart.maxima,
            title=f"{chart.title} (full runs)",
            references=chart.references,
        )
        + "</figure>"
        for chart in charts
    ]
    note = (
        "Radar per group with 3 or more scored tasks; each axis runs from 0 at the centre to its maximum "
        "(100, or 1000 for sums); --limit runs are left out and a missing score is drawn at the centre. "
        "Grey dashed outlines: published numbers of a model that reports every axis."
    )
    return (
        '<section class="charts-section"><h2>Groups at a glance</h2>'
        f'<p class="note">{escape(note)}</p><div class="charts">{"".join(figures)}</div></section>'
    )


def _details_html(board: Leaderboard) -> str:
    blocks = []
    for view in detail_tables(board):
        slug = view.title.split(":", 1)[0].lower().replace(" ", "-")
        blocks.append(
            f'<details class="{escape(slug)}"><summary><h2>{escape(view.title)}</h2>'
            f" <small>({len(view.rows)} rows)</small></summary>\n{view_table_html(view)}\n</details>"
        )
    return "\n".join(blocks)
