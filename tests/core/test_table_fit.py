"""Tables that fit a width: every line within it, no word split, wide tables cut into column chunks."""

from __future__ import annotations

import io
import random
import re

import pytest
from rich.cells import cell_len
from rich.console import Console

from monkeyeval.core.table_fit import (
    TableView,
    column_chunks,
    fitted_layout,
    fitted_tables,
    plain_tables,
    share_width,
    wrap_words,
)

WORDS = ["max_new_tokens", "anls_docvqa", "relaxed_accuracy_pix2struct", "n=36", "⚠", "66.7", "[53.3, 78.3]"]


def rendered(view: TableView, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    for table in fitted_tables(view, width):
        console.print(table)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


def cell_words(output: str) -> set[str]:
    """Every word inside the table bodies (borders and padding removed)."""
    words: set[str] = set()
    for line in output.splitlines():
        for cell in re.split(r"[│┃]", line):
            words.update(cell.split())
    return words


def random_view(seed: int) -> TableView:
    rng = random.Random(seed)
    n_columns = rng.randint(2, 9)
    headers = ["model"] + [f"{rng.choice(WORDS)} ({rng.choice(WORDS)})" for _ in range(n_columns - 1)]
    rows = [
        [f"model_{r}"] + [" ".join(rng.choices(WORDS, k=rng.randint(1, 4))) for _ in range(n_columns - 1)]
        for r in range(rng.randint(1, 4))
    ]
    return TableView("random", headers, rows)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_lines_fit_and_no_word_is_split(seed: int, width: int) -> None:
    view = random_view(seed)
    output = rendered(view, width)
    assert max(cell_len(line) for line in output.splitlines()) <= width
    room = width - 1 - 3 - (7 + 3)  # what a chunk leaves one column beside the key column ("model_N")
    texts = [*view.headers, *(cell for row in view.rows for cell in row)]
    expected = {word for text in texts for word in text.split() if cell_len(word) <= room}
    assert expected <= cell_words(output)  # each word that can fit appears whole, on one line


def test_a_table_that_fits_stays_one_table() -> None:
    view = TableView("Leaderboard", ["model", "demo"], [["demo__checkpoint", "0.0 [0.0, 0.0] n=36"]])
    tables = fitted_tables(view, 80)
    assert len(tables) == 1 and tables[0].title == "Leaderboard"


def test_wide_tables_are_cut_into_chunks_that_repeat_the_key_columns() -> None:
    headers = ["model", "task", *(f"column_number_{i}" for i in range(8))]
    view = TableView("Runs", headers, [["m", "t", *(f"value{i}" for i in range(8))]], keys=2)
    tables = fitted_tables(view, 60)
    assert len(tables) > 1
    seen = []
    for table in tables:
        names = [str(column.header) for column in table.columns]
        assert names[:2] == ["model", "task"]
        seen += names[2:]
    assert seen == headers[2:]  # every data column once, in order
    assert tables[0].title == "Runs (columns 1-2 of 8)"


def test_chunking_and_width_sharing_rules() -> None:
    # widths 10 + (3 overhead each) + 1: keys take 14, each other column 13, room 40
    assert column_chunks([10, 10, 10, 10, 10], keys=1, width=40) == [[0, 1, 2], [0, 3, 4]]
    assert column_chunks([10, 100], keys=1, width=40) == [[0, 1]]  # too wide for any chunk: alone
    assert share_width([5, 5], [10, 20], room=40) == [10, 20]  # everything fits unwrapped
    widths = share_width([5, 5], [10, 20], room=20)
    assert sum(widths) == 20 and widths[0] >= 5 and widths[1] > widths[0]
    assert share_width([5, 5], [10, 20], room=8) == [5, 5]  # never below the longest word


def test_a_word_wider_than_the_screen_is_the_only_thing_folded() -> None:
    path = "/very/long/" + "x" * 100 + "/scores.json"
    output = rendered(TableView("Skipped files", ["problem"], [[f"{path}: invalid JSON"]]), 50)
    assert max(cell_len(line) for line in output.splitlines()) <= 50
    assert {"invalid", "JSON"} <= cell_words(output)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("width", [40, 80])
def test_plain_text_has_the_rich_layout_without_borders(seed: int, width: int) -> None:
    view = random_view(seed)
    plain = plain_tables(view, width)
    lines = plain.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    layouts = fitted_layout(view, width)
    assert [line for line in lines if line.startswith("random")] == [layout.title for layout in layouts]
    rules = [line for line in lines if line and set(line) <= {"-", " "}]
    assert [[len(dash) for dash in rule.split()] for rule in rules] == [layout.widths for layout in layouts]
    room = width - 1 - 3 - (7 + 3)
    texts = [*view.headers, *(cell for row in view.rows for cell in row)]
    expected = {word for text in texts for word in text.split() if cell_len(word) <= room}
    assert expected <= {word for line in lines for word in line.split()}  # whole words, as in rich
    assert not set(plain) & set("│┃━─┏┓┗┛")


def test_plain_rows_align_under_their_headers() -> None:
    view = TableView("T", ["model", "score"], [["a", "61.2 [58.0, 64.0] n=200 ⚠"], ["bb", "—"]])
    assert plain_tables(view, 80).splitlines() == [
        "T",
        "model  score",
        "-----  -------------------------",
        "a      61.2 [58.0, 64.0] n=200 ⚠",
        "bb     —",
    ]


def test_wrap_words_breaks_between_words_and_folds_only_an_over_wide_word() -> None:
    assert wrap_words("61.2 [58.0, 64.0] n=200", 11) == ["61.2 [58.0,", "64.0] n=200"]
    assert wrap_words("61.2 [58.0, 64.0] n=200", 10) == ["61.2", "[58.0,", "64.0]", "n=200"]
    assert wrap_words("ab abcdefgh c", 4) == ["ab", "abcd", "efgh", "c"]
    assert wrap_words("line one\nline two", 20) == ["line one", "line two"]
    assert wrap_words("", 5) == [""]
    assert wrap_words("文字文", 4) == ["文字", "文"]  # wide characters count two cells
