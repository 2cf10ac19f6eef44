"""Tables that fit the terminal: cells wrap between words, a word is never split.

Each column is at least as wide as its longest word (header included). When the columns do not fit side
by side, the table is cut into column chunks, each repeating the table's key columns (the model, or model
and task), as pandas prints a wide frame: `Leaderboard (columns 1-3 of 8)`. Only a single word wider than
the whole width (a long path) is folded, since nothing else can fit it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class TableView:
    """A titled table of strings; its first `keys` columns name the row (repeated when a table is split)."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    keys: int = 1


CELL_OVERHEAD = 3  # one space of padding on each side and one border per column
TABLE_OVERHEAD = 1  # the closing border


def longest_word(text: str) -> int:
    """Terminal cells of the longest whitespace-separated word of `text` (0 for blank text)."""
    return max((cell_len(word) for word in text.split()), default=0)


def column_min_widths(view: TableView) -> list[int]:
    """Per column: the longest word among its header and cells (at least 1)."""
    widths = [max(1, longest_word(header)) for header in view.headers]
    for row in view.rows:
        for position, cell in enumerate(row):
            widths[position] = max(widths[position], longest_word(cell))
    return widths


def column_chunks(widths: Sequence[int], keys: int, width: int) -> list[list[int]]:
    """Column positions per chunk: the `keys` first columns in every chunk, the others added greedily
    while the chunk's minimum width stays within `width` (a column that fits nowhere gets its own chunk)."""
    keys = min(keys, len(widths))
    base = TABLE_OVERHEAD + sum(widths[position] + CELL_OVERHEAD for position in range(keys))
    chunks: list[list[int]] = []
    current: list[int] = []
    used = base
    for position in range(keys, len(widths)):
        need = widths[position] + CELL_OVERHEAD
        if current and used + need > width:
            chunks.append(current)
            current, used = [], base
        current.append(position)
        used += need
    if current or not chunks:
        chunks.append(current)
    return [list(range(keys)) + chunk for chunk in chunks]


def natural_widths(view: TableView) -> list[int]:
    """Per column: the widest line among its header and cells (the width with no wrapping at all)."""

    def widest(text: str) -> int:
        return max((cell_len(line) for line in text.splitlines()), default=0)

    widths = [max(1, widest(header)) for header in view.headers]
    for row in view.rows:
        for position, cell in enumerate(row):
            widths[position] = max(widths[position], widest(cell))
    return widths


def share_width(least: Sequence[int], most: Sequence[int], room: int) -> list[int]:
    """Column widths within `room` cells: each at least `least` (its longest word) and at most `most`
    (unwrapped); the room left over the minimums goes to the columns in proportion to what they lack."""
    if sum(most) <= room:
        return list(most)
    spare = max(0, room - sum(least))
    lacking = [high - low for low, high in zip(least, most, strict=True)]
    total = sum(lacking) or 1
    widths = [low + spare * lack // total for low, lack in zip(least, lacking, strict=True)]
    for position in sorted(range(len(widths)), key=lambda p: lacking[p] - (widths[p] - least[p]))[::-1]:
        if sum(widths) >= min(room, sum(most)):
            break
        if widths[position] < most[position]:
            widths[position] += 1  # the rounding remainder, one cell at a time
    return widths


@dataclass(frozen=True)
class ChunkLayout:
    """One printed piece of a table: its title, the column positions it shows and their widths."""

    title: str
    positions: list[int]
    widths: list[int]


def fitted_layout(view: TableView, width: int) -> list[ChunkLayout]:
    """How `view` fits `width` columns without splitting a word: its column chunks and their widths."""
    ceiling = max(1, width - CELL_OVERHEAD - TABLE_OVERHEAD)  # only a word this wide is ever folded
    least = [min(w, ceiling) for w in column_min_widths(view)]
    most = [max(low, w) for low, w in zip(least, natural_widths(view), strict=True)]
    chunks = column_chunks(least, view.keys, width)
    keys = min(view.keys, len(view.headers))
    data_columns = len(view.headers) - keys
    layouts = []
    for chunk in chunks:
        title = view.title
        shown = [position - keys + 1 for position in chunk if position >= keys]
        if len(chunks) > 1 and shown:
            span = f"columns {shown[0]}-{shown[-1]}" if len(shown) > 1 else f"column {shown[0]}"
            title += f" ({span} of {data_columns})"
        room = width - TABLE_OVERHEAD - CELL_OVERHEAD * len(chunk)
        widths = share_width([least[p] for p in chunk], [most[p] for p in chunk], room)
        layouts.append(ChunkLayout(title, chunk, widths))
    return layouts


def fitted_tables(view: TableView, width: int) -> list[Table]:
    """`view` as one or more rich tables, each fitting `width` columns without splitting a word."""
    tables = []
    for layout in fitted_layout(view, width):
        table = Table(title=layout.title, header_style="bold")
        for position, column_width in zip(layout.positions, layout.widths, strict=True):
            table.add_column(Text(view.headers[position]), width=column_width, overflow="fold")
        for row in view.rows:
            table.add_row(*(Text(row[position]) for position in layout.positions))
        tables.append(table)
    return tables


def plain_tables(view: TableView, width: int) -> str:
    """`view` as plain text in the same layout as `fitted_tables` (no rich: fast on large reports).

    Columns are separated by two spaces and a dashed rule follows the headers; cells wrap between words.
    """
    out = []
    for layout in fitted_layout(view, width):
        out.append(layout.title)
        out += _plain_row([view.headers[p] for p in layout.positions], layout.widths)
        out.append("  ".join("-" * w for w in layout.widths).rstrip())
        for row in view.rows:
            out += _plain_row([row[p] for p in layout.positions], layout.widths)
        out.append("")
    return "\n".join(out)


def _plain_row(cells: list[str], widths: list[int]) -> list[str]:
    wrapped = [wrap_words(cell, w) for cell, w in zip(cells, widths, strict=True)]
    height = max((len(lines) for lines in wrapped), default=1)
    lines = []
    for index in range(height):
        parts = [
            _pad(lines[index] if index < len(lines) else "", w)
            for lines, w in zip(wrapped, widths, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return lines


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))


def wrap_words(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` terminal cells, broken between words; a word wider than
    `width` is folded (it fits nowhere else). Line breaks in `text` are kept."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            while cell_len(word) > width:  # fold an over-wide word, cell by cell
                if line:
                    lines.append(line)
                    line = ""
                cut = _fold_point(word, width)
                lines.append(word[:cut])
                word = word[cut:]
            if not line:
                line = word
            elif cell_len(line) + 1 + cell_len(word) <= width:
                line += " " + word
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def _fold_point(word: str, width: int) -> int:
    """The longest prefix of `word` within `width` cells (at least one character)."""
    cut = 1
    while cut < len(word) and cell_len(word[: cut + 1]) <= width:
        cut += 1
    return cut


def print_fitted(console: Console, view: TableView) -> None:
    """Print `view` as the tables that fit `console` (see `fitted_tables`)."""
    for table in fitted_tables(view, console.width):
        console.print(table)
