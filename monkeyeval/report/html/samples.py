"""Per-run sample browsers for the HTML leaderboard: self-contained fragments (own `<style>` and `<script>`).

Each browser is a collapsed `<details>` with one card per sample: id, a thumbnail of the sample's image
(PIL `thumbnail` to `thumb_px`, the smaller of PNG and JPEG, embedded as a `data:` URI), the exact model
input, the prediction, the answers, the score (`core.numbers.format_score`), the error and the truncated
flag. Filters (inline JavaScript; without it every embedded sample is shown): all / wrong (per-sample
score below the metric's maximum, 1; undefined for corpus metrics) / error / truncated / empty prediction,
each with its count over the whole predictions.jsonl.

Images come from the run's dataset: `run.json` names the task folders and data root, the task registry
gives the task, and `tasks.dataset.load_samples` resolves each image inside the image root (a path that
escapes it, a missing or undecodable file shows "image unavailable").

Page size: at most `max_samples` samples (default 200) are embedded, the informative first (errors, wrong,
truncated, empty, then the rest in dataset order). Measured at the default 160 px: about 0.9 KB per demo
sample (its 128x64 images are not enlarged: ~0.4 KB each, ~0.5 KB text and markup), so the default cap costs
~180 KB per run; a 160 px thumbnail of a document page is ~3 KB and of a photo ~4.5 KB (~1 MB per run at the
cap). Long prompts or predictions add their own length. The fragment's style and script add ~2 KB.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from monkeyeval.core.atomic import read_jsonl_tolerant
from monkeyeval.core.errors import UserError
from monkeyeval.core.images import load_rgb
from monkeyeval.core.numbers import format_score
from monkeyeval.core.types import PredictionRecord
from monkeyeval.results.schema import ResultsError, RunResult
from monkeyeval.results.tree import ResultsTree, load_sample_scores
from monkeyeval.runner.parts import read_manifest
from monkeyeval.tasks.dataset import load_samples
from monkeyeval.tasks.registry import TaskRegistry

SCORE_MAX = 1.0
"""A per-sample score below this (full marks) is *wrong* in the browser (mean metrics: [0, 1]; sums: 0/1)."""
FILTERS = ("all", "wrong", "error", "truncated", "empty")
FILTER_LABELS = {
    "all": "all",
    "wrong": "wrong",
    "error": "errors",
    "truncated": "truncated",
    "empty": "empty prediction",
}
PRIORITY = ("error", "wrong", "truncated", "empty")
"""Which samples the cap keeps first, most informative first."""
ImageInfo = tuple[Path | None, str | None]


@dataclass(frozen=True)
class SampleRow:
    """One predictions.jsonl record plus its effective score (an error without a score counts 0)."""

    record: PredictionRecord
    score: float | None
    position: int

    def tags(self, aggregation: str) -> frozenset[str]:
        """The filters this sample belongs to (besides `all`)."""
        tags = set()
        if self.record.error:
            tags.add("error")
        if aggregation != "corpus" and self.score is not None and self.score < SCORE_MAX - 1e-9:
            tags.add("wrong")
        if self.record.truncated:
            tags.add("truncated")
        if not self.record.prediction.strip():
            tags.add("empty")
        return frozenset(tags)

    def rank(self, aggregation: str) -> tuple[int, int, int]:
        """Sort key of the cap: informative first (see `PRIORITY`), then dataset order."""
        tags = self.tags(aggregation)
        first = next((i for i, tag in enumerate(PRIORITY) if tag in tags), len(PRIORITY))
        return first, self.record.index, self.position


def read_rows(path: Path) -> list[SampleRow]:
    """Every record of a predictions.jsonl, in file order; `ResultsError` when it is missing or damaged.

    Validation and the error-counts-0 rule are `results.tree.load_sample_scores`'s (as the gate reads it).
    """
    try:
        scores = load_sample_scores(path).scores
        raw = read_jsonl_tolerant(path)
        records = [PredictionRecord.from_json(obj) for obj in raw]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: unreadable ({type(err).__name__}: {err})", path) from err
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, ResultsError):
            raise
        why = f"a record lacks a valid field ({type(err).__name__}: {err})"
        raise ResultsError(f"{path}: {why}", path) from err
    return [SampleRow(rec, scores.get(rec.id), pos) for pos, rec in enumerate(records)]


def fragment_id(prefix: str, model: str, task: str, counter: int) -> str:
    """An HTML id from a sanitised model/task, a short hash of the raw names and `counter`."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{model}-{task}").strip("-")[:48] or "run"
    digest = hashlib.sha1(f"{model}\0{task}".encode()).hexdigest()[:6]
    return f"{prefix}-{slug}-{digest}-{counter}"


def esc(value: object) -> str:
    """Escape any text from the files for HTML (quotes too)."""
    return html.escape(str(value), quote=True)


def dataset_images(run: RunResult) -> tuple[dict[str, ImageInfo], str | None]:
    """id -> (image path inside the dataset's image root, or None and why), and why no dataset was found."""
    try:
        manifest = read_manifest(run.run_dir)
        if manifest is None:
            return {}, "no run.json next to the results: the dataset is unknown"
        dirs = tuple(Path(d) for d in manifest.get("tasks_dirs", []))
        root = manifest.get("data_root")
        task = TaskRegistry.discover(dirs, Path(root) if root else None).get(run.task)
        dataset = load_samples(task, check_image_root=False)
    except (UserError, OSError, ValueError, TypeError, AttributeError) as err:
        return {}, f"dataset not readable ({err})"
    return {s.id: (s.image_path, s.error) for s in dataset.samples}, None


def thumbnail_uri(path: Path, thumb_px: int) -> str:
    """A `data:` URI of `path` shrunk to fit `thumb_px` (smaller of PNG and JPEG); raises on bad images."""
    image = load_rgb(path)
    image.thumbnail((thumb_px, thumb_px))
    encoded: list[tuple[int, str, bytes]] = []
    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        buffer = io.BytesIO()
        image.save(buffer, fmt, optimize=True, **({"quality": 80} if fmt == "JPEG" else {}))
        encoded.append((buffer.tell(), mime, buffer.getvalue()))
    _, mime, data = min(encoded)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_html(info: ImageInfo | None, sample_id: str, thumb_px: int, missing_reason: str | None) -> str:
    """An `<img>` thumbnail, or "image unavailable" with the reason (never raises)."""
    path, reason = info if info is not None else (None, missing_reason or "sample not in the dataset")
    if path is not None:
        try:
            uri = thumbnail_uri(path, thumb_px)
        except (UserError, OSError, ValueError, Image.DecompressionBombError) as err:
            reason = str(err)
        else:
            return f'<img class="me-sb-thumb" src="{uri}" alt="image of sample {esc(sample_id)}">'
    return f'<div class="me-sb-noimg">image unavailable<small>{esc(reason or "")}</small></div>'


STYLE = """<style>
.me-sb{font:13px/1.4 system-ui,sans-serif;margin:.5em 0}.me-sb summary{cursor:pointer;font-weight:600}
.me-sb-note{color:#555;margin:.4em 0}.me-sb-filters button{margin:0 .3em .3em 0;padding:.15em .6em;
border:1px solid #999;border-radius:3px;background:#f4f4f4;cursor:pointer}
.me-sb-filters button[aria-pressed=true]{background:#333;color:#fff}
.me-sb-grid{display:flex;flex-wrap:wrap;gap:.6em}.me-sb-item{border:1px solid #ccc;border-radius:4px;
padding:.4em;width:22em;display:flex;gap:.5em}.me-sb-item[hidden]{display:none}
.me-sb-thumb{height:auto;flex:none}.me-sb-noimg{width:7em;color:#a00;font-size:11px}
.me-sb-noimg small{display:block;color:#777;word-break:break-all}.me-sb-fields{margin:0;min-width:0}
.me-sb-fields dt{font-weight:600;color:#444}.me-sb-fields dd{margin:0 0 .2em 0}
.me-sb-fields pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:12px}
.me-sb-bad{color:#a00}.me-sb table{border-collapse:collapse}.me-sb td,.me-sb th{border:1px solid #ccc;
padding:.2em .4em;vertical-align:top;text-align:left}
</style>"""

SCRIPT = """<script>
(function () {
  var root = document.getElementById("__ID__");
  if (!root) { return; }
  var items = root.querySelectorAll(".me-sb-item");
  var bar = root.querySelector(".me-sb-filters");
  var buttons = bar.querySelectorAll("button[data-filter]");
  function show(name) {
    for (var i = 0; i < items.length; i++) {
      var tags = " " + items[i].getAttribute("data-tags") + " ";
      items[i].hidden = !(name === "all" || tags.indexOf(" " + name + " ") >= 0);
    }
    for (var j = 0; j < buttons.length; j++) {
      buttons[j].setAttribute("aria-pressed", String(buttons[j].getAttribute("data-filter") === name));
    }
  }
  for (var k = 0; k < buttons.length; k++) {
    buttons[k].addEventListener("click", function () { show(this.getAttribute("data-filter")); });
  }
  bar.hidden = false;
})();
</script>"""


def sample_card(row: SampleRow, aggregation: str, image: str) -> str:
    """One sample's card (every text escaped)."""
    rec = row.record
    tags = sorted(row.tags(aggregation))
    score = format_score(row.score, aggregation)
    answers = "".join(f"<li>{esc(answer)}</li>" for answer in rec.answers)
    error = f'<dt>error</dt><dd class="me-sb-bad"><pre>{esc(rec.error)}</pre></dd>' if rec.error else ""
    return (
        f'<div class="me-sb-item" data-tags="{" ".join(tags)}" data-id="{esc(rec.id)}">{image}'
        f'<dl class="me-sb-fields"><dt>id</dt><dd>{esc(rec.id)}</dd>'
        f'<dt>score</dt><dd class="me-sb-score">{esc(score)}</dd>'
        f"<dt>model input</dt><dd><pre>{esc(rec.prompt)}</pre></dd>"
        f'<dt>prediction</dt><dd><pre class="me-sb-pred">{esc(rec.prediction)}</pre></dd>'
        f"<dt>answers</dt><dd><ul>{answers}</ul></dd>{error}"
        f"<dt>truncated</dt><dd>{'yes (hit max_new_tokens)' if rec.truncated else 'no'}</dd></dl></div>"
    )


def filter_counts(rows: Sequence[SampleRow], aggregation: str) -> dict[str, int]:
    """How many samples each filter selects."""
    counts = dict.fromkeys(FILTERS, 0)
    counts["all"] = len(rows)
    for row in rows:
        for tag in row.tags(aggregation):
            counts[tag] += 1
    return counts


def _unavailable(run: RunResult, root_id: str, why: str) -> str:
    return (
        f'<details class="me-sb" id="{root_id}"><summary>Samples: {esc(run.model)} / {esc(run.task)} '
        f'(no samples)</summary>{STYLE}<p class="me-sb-note me-sb-bad">{esc(why)}</p></details>'
    )


def sample_browser_section(
    run: RunResult, *, max_samples: int = 200, thumb_px: int = 160, counter: int = 0
) -> str:
    """The collapsed sample browser of one run; a short notice when its predictions.jsonl is unreadable.

    `counter` keeps ids unique when a page shows the same model/task twice.
    """
    root_id = fragment_id("me-sb", run.model, run.task, counter)
    try:
        rows = read_rows(run.predictions_path)
    except ResultsError as err:
        return _unavailable(run, root_id, f"predictions.jsonl missing or damaged: {err}")
    agg = run.aggregation
    counts = filter_counts(rows, agg)
    shown = sorted(rows, key=lambda row: row.rank(agg))[: max(0, max_samples)]
    images, missing = dataset_images(run) if shown else ({}, None)
    cards = "".join(
        sample_card(row, agg, image_html(images.get(row.record.id), row.record.id, thumb_px, missing))
        for row in shown
    )
    shown_counts = filter_counts(shown, agg)
    buttons = "".join(
        f'<button type="button" data-filter="{name}" data-count="{counts[name]}" '
        f'aria-pressed="{str(name == "all").lower()}">{FILTER_LABELS[name]} {counts[name]}'
        f"{f' ({shown_counts[name]} shown)' if shown_counts[name] != counts[name] else ''}</button>"
        for name in FILTERS
    )
    total = len(rows)
    cap = f" (cap {max_samples}; raise with --samples)" if len(shown) < total else ""
    wrong = "wrong n/a (corpus metric)" if agg == "corpus" else f"{counts['wrong']} wrong"
    summary = (
        f"Samples: {esc(run.model)} / {esc(run.task)} ({wrong}, {counts['error']} errors, "
        f"{counts['truncated']} truncated, {counts['empty']} empty, of {total})"
    )
    order = "errors, wrong, truncated and empty predictions first, then dataset order"
    return (
        f'<details class="me-sb" id="{root_id}"><summary>{summary}</summary>{STYLE}'
        f'<p class="me-sb-note me-sb-cap">showing {len(shown)} of {total} samples{cap}; {order}</p>'
        f'<div class="me-sb-filters" hidden>{buttons}</div>'
        '<noscript><p class="me-sb-note">Filters need JavaScript: every embedded sample is shown.</p>'
        "</noscript>"
        f'<div class="me-sb-grid">{cards}</div>{SCRIPT.replace("__ID__", root_id)}</details>'
    )


def samples_sections(
    tree: ResultsTree, *, max_samples: int, compare: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """One browser per run (by model, task; none when `max_samples` is 0), then one comparison per
    (model_a, model_b) and shared task.

    An unknown model in `compare` raises `UserError` naming the models present.
    """
    from monkeyeval.report.html.compare import comparison_section, no_common_task  # it imports this module

    models = sorted({run.model for run in tree.runs})
    for pair in compare:
        for model in pair:
            if model not in models:
                present = ", ".join(models) or "none"
                raise UserError(f"compare: unknown model {model!r}; the results hold these models: {present}")
    runs = sorted(tree.runs, key=lambda run: (run.model, run.task))
    browsed = runs if max_samples > 0 else []  # --samples 0: no browsers, comparisons only
    out = [sample_browser_section(run, max_samples=max_samples, counter=i) for i, run in enumerate(browsed)]
    for i, (model_a, model_b) in enumerate(compare):
        tasks_a = {run.task for run in runs if run.model == model_a}
        shared = sorted(tasks_a & {run.task for run in runs if run.model == model_b})
        if not shared:
            out.append(no_common_task(model_a, model_b))
        for task in shared:
            a, b = tree.get(model_a, task), tree.get(model_b, task)
            assert a is not None and b is not None
            out.append(comparison_section(a, b, counter=i))
    return out
