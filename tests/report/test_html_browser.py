"""The HTML page in a real browser (headless Debian chromium from file://): no console error or JS exception,
a screenshot, and the sort script (clicks on a header, read back with --dump-dom).

Chromium's stderr log shows console messages without their level, so the pages loaded here get a small hook
first in <head> that re-logs console.error and uncaught errors with a marker; "Uncaught" lines and CSP
refusals count too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_html_page import EVIL, write_rich_results

from monkeyeval.report import Leaderboard, build_leaderboard
from monkeyeval.report.html import render_html
from monkeyeval.results.tree import load_results

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`)"),
]
TIMEOUT_S = 90
HOOK = """<script>
(function () {
  var original = console.error;
  console.error = function () {
    console.log("MONKEYEVAL-CONSOLE-ERROR " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
  window.addEventListener("error", function (event) { console.log("MONKEYEVAL-JS-ERROR " + event.message); });
})();
</script>"""
ERROR_LINE = re.compile(r"CONSOLE.*(MONKEYEVAL-(CONSOLE|JS)-ERROR|Uncaught|Refused to)")
SORT_PROBE = """<script>
(function () {
  var table = document.querySelector("table.board");
  var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
    return th.querySelector("button").textContent;
  });
  function order() {
    return Array.prototype.map.call(table.tBodies[0].rows, function (tr) { return tr.cells[0].textContent; });
  }
  var out = {width: document.documentElement.scrollWidth, viewport: window.innerWidth,
             table: table.scrollWidth};
  var th = table.tHead.rows[0].cells[heads.indexOf("COLUMN")];
  th.querySelector("button").click();
  out.first = order(); out.first_sort = th.getAttribute("aria-sort");
  th.querySelector("button").click();
  out.second = order(); out.second_sort = th.getAttribute("aria-sort");
  table.tHead.rows[0].cells[0].querySelector("button").click();
  out.by_model = order();
  document.body.setAttribute("data-probe", JSON.stringify(out));
})();
</script>"""


@pytest.fixture
def rich_board(results_root: Path, run_writer) -> Leaderboard:
    write_rich_results(results_root, run_writer)
    return build_leaderboard(load_results(results_root))


def _chromium(
    page: Path, tmp_path: Path, *args: str, window: str = "1400,1000"
) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={window}",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def _with_hook(text: str) -> str:
    assert "<head>" in text
    return text.replace("<head>", "<head>\n" + HOOK, 1)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ERROR_LINE.search(line)]


def test_page_loads_without_console_errors_and_screenshots(rich_board: Leaderboard, tmp_path: Path) -> None:
    page = tmp_path / "board.html"
    page.write_text(_with_hook(render_html(rich_board)), encoding="utf-8")
    shot = tmp_path / "board.png"
    done = _chromium(page, tmp_path, f"--screenshot={shot}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _errors(done.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("MONKEYEVAL_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)


@pytest.mark.parametrize(
    "script", ['throw new Error("deliberate");', 'console.error("deliberate");', "undefinedFunction();"]
)
def test_the_error_check_catches_a_broken_page(script: str, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        _with_hook(f"<!DOCTYPE html><html><head></head><body><script>{script}</script></body></html>")
    )
    done = _chromium(page, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _errors(done.stderr), done.stderr[-2000:]


def _probe(board: Leaderboard, column: str, tmp_path: Path) -> dict:
    text = render_html(board)
    page = tmp_path / "probe.html"
    page.write_text(_with_hook(text.replace("</body>", SORT_PROBE.replace("COLUMN", column) + "</body>")))
    done = _chromium(page, tmp_path, "--dump-dom", window="640,900")  # narrower than the table
    assert done.returncode == 0 and _errors(done.stderr) == [], done.stderr[-2000:]
    found = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert found, done.stdout[-2000:]
    return json.loads(
        found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )


def _expected(board: Leaderboard, task: str, descending: bool) -> list[str]:
    scores = {
        m: s
        for m, t, s in zip(board.tasks["model"], board.tasks["task"], board.tasks["score"], strict=True)
        if t == task
    }
    measured = sorted(
        (m for m in board.models if m in scores),
        key=lambda m: (-scores[m] if descending else scores[m], board.models.index(m)),
    )
    return measured + [m for m in board.models if m not in scores]


@pytest.mark.parametrize("column", ["docvqa_test", "chartqa"])
def test_clicking_a_header_sorts_numerically_with_missing_last(
    rich_board: Leaderboard, column: str, tmp_path: Path
) -> None:
    probe = _probe(rich_board, column, tmp_path)
    assert probe["first_sort"] == "descending" and probe["second_sort"] == "ascending"
    assert probe["first"] == _expected(rich_board, column, descending=True)
    assert probe["second"] == _expected(rich_board, column, descending=False)
    assert probe["by_model"] == sorted(rich_board.models)
    assert EVIL in probe["first"]
    assert probe["table"] > probe["viewport"]  # the table is wider than the window ...
    assert probe["width"] <= probe["viewport"]  # ... and scrolls inside its box, not the page
