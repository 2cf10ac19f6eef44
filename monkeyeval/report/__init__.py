"""Leaderboards over a results folder: `build_leaderboard` + renderers (rich, md, csv, json, html)."""

from monkeyeval.report.leaderboard import Leaderboard, ReportError, build_leaderboard
from monkeyeval.report.render import FORMATS, render

__all__ = ["FORMATS", "Leaderboard", "ReportError", "build_leaderboard", "render"]
