"""Two runs of one task side by side for the HTML leaderboard: flips, changed predictions, unmatched ids.

Samples are matched by id. Flips are the gate's (`gate.compare.check_entry` on a baseline entry made from
run A, `gate.baseline.entry_from_run`): a sample is *right* when its per-sample score is >= 0.5, and a flip
is a change of right/wrong (undefined for corpus metrics). At most `max_flips` flips are listed, right ->
wrong first.
"""

from __future__ import annotations

from monkeyeval.core.numbers import format_score
from monkeyeval.gate.baseline import entry_from_run
from monkeyeval.gate.compare import Flip, GateOptions, check_entry
from monkeyeval.report.html.samples import STYLE, esc, fragment_id, read_rows
from monkeyeval.results.schema import ResultsError, RunResult

MAX_LISTED_IDS = 20
"""How many ids of samples found in only one run are named (the count is always exact)."""


def no_common_task(model_a: str, model_b: str) -> str:
    """The notice for a requested comparison of two models that share no task."""
    return (
        f'<div class="me-sb me-cmp"><p class="me-sb-note">Compare {esc(model_a)} vs {esc(model_b)}: '
        "the two models have no task in common.</p></div>"
    )


def _ids_line(label: str, ids: list[str]) -> str:
    more = f" and {len(ids) - MAX_LISTED_IDS} more" if len(ids) > MAX_LISTED_IDS else ""
    listed = ", ".join(esc(i) for i in ids[:MAX_LISTED_IDS])
    return f'<li class="me-cmp-only">{len(ids)} {esc(label)}{": " + listed + more if ids else ""}</li>'


def _flip_row(kind: str, flip: Flip, answers: list[str], aggregation: str) -> str:
    before, after = format_score(flip.base_score, aggregation), format_score(flip.new_score, aggregation)
    return (
        f'<tr class="me-cmp-flip" data-kind="{kind}"><td>{kind.replace("-", " → ")}</td>'
        f"<td>{esc(flip.sample_id)}</td><td>{esc(' | '.join(answers))}</td>"
        f"<td><pre>{esc(flip.base_prediction)}</pre></td><td>{esc(before)}</td>"
        f"<td><pre>{esc(flip.new_prediction)}</pre></td><td>{esc(after)}</td>"
        "</tr>"
    )


def comparison_section(a: RunResult, b: RunResult, *, max_flips: int = 100, counter: int = 0) -> str:
    """A collapsed comparison of runs `a` and `b` of the same task (a short notice when either predictions
    file is unreadable); `ValueError` when the tasks differ."""
    if a.task != b.task:
        raise ValueError(f"comparison needs two runs of one task, got {a.task!r} and {b.task!r}")
    root_id = fragment_id("me-cmp", f"{a.model}-vs-{b.model}", a.task, counter)
    title = f"Compare: {esc(a.model)} vs {esc(b.model)} / {esc(a.task)}"
    try:
        rows_a, rows_b = read_rows(a.predictions_path), read_rows(b.predictions_path)
    except ResultsError as err:
        return (
            f'<details class="me-sb me-cmp" id="{root_id}"><summary>{title} (not comparable)</summary>{STYLE}'
            f'<p class="me-sb-note me-sb-bad">predictions.jsonl missing or damaged: {esc(err)}</p></details>'
        )
    entry, _ = entry_from_run(a)
    verdict = check_entry(entry, b, GateOptions(allow_fingerprint_change=True))
    answers = {row.record.id: row.record.answers for row in rows_b}
    answers.update({row.record.id: row.record.answers for row in rows_a})
    ids_a = [row.record.id for row in rows_a]
    ids_b = [row.record.id for row in rows_b]
    set_a, set_b = set(ids_a), set(ids_b)
    only_a = [i for i in ids_a if i not in set_b]
    only_b = [i for i in ids_b if i not in set_a]
    flips = [("right-wrong", f) for f in verdict.right_to_wrong]
    flips += [("wrong-right", f) for f in verdict.wrong_to_right]
    listed = flips[: max(0, max_flips)]
    changed = verdict.n_changed_predictions or 0
    notes = "".join(f"<li>{esc(note)}</li>" for note in verdict.notes)
    if verdict.fingerprint_diffs:
        fields = ", ".join(sorted(verdict.fingerprint_diffs))
        notes += f"<li>score-relevant fingerprint differs ({esc(fields)}): scores may not be comparable</li>"
    if verdict.flips_checked:
        flip_text = f"{len(verdict.right_to_wrong)} right→wrong, {len(verdict.wrong_to_right)} wrong→right"
    else:
        flip_text = "flips not available"
    cap = f" (cap {max_flips})" if len(listed) < len(flips) else ""
    header = (
        "<tr><th>change</th><th>id</th><th>answers</th>"
        f"<th>prediction {esc(a.model)}</th><th>score</th>"
        f"<th>prediction {esc(b.model)}</th><th>score</th></tr>"
    )
    table = "".join(_flip_row(kind, f, answers.get(f.sample_id, []), a.aggregation) for kind, f in listed)
    return (
        f'<details class="me-sb me-cmp" id="{root_id}"><summary>{title} ({flip_text}, '
        f"{changed} changed predictions)</summary>{STYLE}"
        f'<ul class="me-sb-note"><li class="me-cmp-matched">{len(set_a & set_b)} '
        f"samples in both runs; {changed} predictions changed; {flip_text} (right: score ≥ 0.5)</li>"
        f"{_ids_line(f'only in {a.model}', only_a)}{_ids_line(f'only in {b.model}', only_b)}{notes}</ul>"
        f'<p class="me-sb-note me-cmp-cap">showing {len(listed)} of {len(flips)} flips{cap}</p>'
        f"<table>{header}{table}</table></details>"
    )
