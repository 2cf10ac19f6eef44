"""The page's inline CSS and JavaScript (no network: the page's Content-Security-Policy forbids it)."""

from __future__ import annotations

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)

STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0; padding: 1.5em 2em; color: #222; background: #fff;
  max-width: 100vw; }
h1 { margin-top: 0; }
h2 { font-size: 1.15em; display: inline; }
p.legend, p.note { color: #555; font-size: 13px; max-width: 70em; }
.wrap { overflow-x: auto; max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: separate; border-spacing: 0; font-size: 13px; }
th, td { border-right: 1px solid #e2e2e2; border-bottom: 1px solid #e2e2e2; padding: 4px 8px;
  text-align: left; vertical-align: top; background: #fff; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
table.board th:first-child, table.board td:first-child { position: sticky; left: 0; z-index: 2;
  box-shadow: 2px 0 0 #ccc; max-width: 22em; overflow-wrap: anywhere; }
table.board th:first-child { z-index: 3; }
table.board td.score { min-width: 6.5em; white-space: nowrap; }
table.board .num { font-variant-numeric: tabular-nums; font-size: 14px; }
table.board td.best .num { font-weight: bold; }
.mark { color: #0072B2; margin-left: 2px; }
.sub, .delta, small { display: block; color: #666; font-size: 11px; }
.delta { color: #7a3d00; }
.warn { color: #a15c00; cursor: help; }
.lim { background: #fff2cc; border: 1px solid #e0b000; border-radius: 3px; padding: 0 3px; font-size: 11px;
  cursor: help; }
td.limit .num { color: #888; }
td.incomplete { color: #888; cursor: help; }
tbody.refs td { background: #eef5fb; font-style: italic; color: #345; }
tbody.refs td:first-child { border-top: 2px solid #9cc3e0; }
sup.fn { font-style: normal; color: #0072B2; }
button.sort { all: unset; cursor: pointer; display: block; font-weight: bold; }
button.sort:focus-visible { outline: 2px solid #0072B2; outline-offset: 2px; }
th[aria-sort="ascending"] button.sort::after { content: " ▲"; }
th[aria-sort="descending"] button.sort::after { content: " ▼"; }
svg.ci { display: block; margin: 2px 0; }
svg.ci line.scale { stroke: #ddd; stroke-width: 1; }
svg.ci line.range { stroke: #0072B2; stroke-width: 2; }
svg.ci circle.point { fill: #222; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.charts figure { margin: 0; max-width: 100%; overflow-x: auto; }
.charts svg.chart { max-width: 100%; height: auto; }
details { margin: 1em 0; }
summary { cursor: pointer; }
ol.sources { font-size: 12px; color: #345; }
section.extra { margin-top: 2em; overflow-x: auto; max-width: 100%; }
"""

SCRIPT = """
(function () {
  "use strict";
  function sortKey(row, index) {
    var cell = row.cells[index];
    var value = cell ? cell.getAttribute("data-sort") : null;
    return value === null || value === "" ? null : value;
  }
  function compare(a, b, index, numeric, sign) {
    var x = sortKey(a, index), y = sortKey(b, index);
    if (x === null || y === null) {
      if (x === y) { return Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order")); }
      return x === null ? 1 : -1;
    }
    var order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
    if (order === 0) { return Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order")); }
    return sign * order;
  }
  function sortTable(table, th) {
    var heads = table.tHead.rows[0].cells;
    var index = Array.prototype.indexOf.call(heads, th);
    var numeric = th.getAttribute("data-type") === "number";
    var current = th.getAttribute("aria-sort");
    var direction = current === "descending" ? "ascending" : current === "ascending" ? "descending"
      : (numeric ? "descending" : "ascending");
    Array.prototype.forEach.call(heads, function (other) {
      if (other.hasAttribute("aria-sort")) { other.setAttribute("aria-sort", "none"); }
    });
    th.setAttribute("aria-sort", direction);
    var sign = direction === "ascending" ? 1 : -1;
    Array.prototype.forEach.call(table.tBodies, function (body) {
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) { return compare(a, b, index, numeric, sign); });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.board"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      var button = th.querySelector("button.sort");
      if (button) { button.addEventListener("click", function () { sortTable(table, th); }); }
    });
  });
})();
"""
