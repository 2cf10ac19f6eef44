"""The HTML report: the leaderboard page (`page`), its view model (`board`), charts as SVG (`charts`),
standalone plots (`plots`: SVG, or PNG with the `plots` extra), and the fragments other code appends to the
page (`samples`: per-run sample browsers, `compare`: run comparisons)."""

from monkeyeval.report.html.charts import bars_svg, radar_svg
from monkeyeval.report.html.page import render_html
from monkeyeval.report.html.plots import render_plot

__all__ = ["bars_svg", "radar_svg", "render_html", "render_plot"]
