"""Official test-server submission files from a finished run (`monkeyeval export`).

What each server accepts, and where that was read:

- `docvqa` (DocVQA Task 1 "Single Page DocVQA", rrc.cvc.uab.es/?ch=17) and `infovqa` (InfographicVQA, Task 3
  there): a JSON array `[{"questionId": <int>, "answer": "<str>"}, ...]`. The RRC's own checker
  (`validate_data` of the script "downloaded from docvqa.org and rrc.cvc.uab.es", kept as QwenLM/Qwen-VL
  `eval_mm/infographicsvqa_eval.py`) wants an array with exactly one item per ground-truth question, the
  sorted `questionId`s equal to the ground truth's (integers) and each `answer` one string, not a list.
  Yuliang-Liu/Monkey `eval/evaluate_vqa.py` writes docvqa_test and infovqa_test results as `{'questionId':
  question_id, 'answer': answer}` (plus `image_path`, `annotation` for its own scoring); Qwen-VL's
  `eval_mm/evaluate_vqa.py` writes docvqa_test as just those two keys, as EvolvingLMMs-Lab/lmms-eval
  `lmms_eval/tasks/docvqa/utils.py` does (`{"questionId": int(questionId), "answer": pred}`).
- `textvqa-evalai` (TextVQA on EvalAI, challenge 551): `[{"question_id": <int>, "answer": "<str>"}]`, as
  the organisers' facebookresearch/mmf `website/docs/challenges/textvqa_challenge.md` specifies it (the VQA
  results format of visualqa.org/evaluation.html: `results = [{"question_id": int, "answer": str}]`).
- `vizwiz-evalai` (VizWiz VQA on EvalAI): `[{"image": "VizWiz_test_00000000.jpg", "answer": "<str>"}]`, keyed
  by image file name: Qwen-VL's `eval_mm/evaluate_vqa.py` (vizwiz_test) and `evaluate_vizwiz_testdev.py`
  write `{'image': <file name>, 'answer': answer}`; haotian-liu/LLaVA
  `scripts/convert_vizwiz_for_submission.py` writes `{'image': x['image'], 'answer': ...}` for every test
  question, asserting none is missing.

Ids: predictions.jsonl holds each sample's id as a string (`Sample.id`, the dataset's `fields.id` value); the
integer formats parse it back, and only a plain decimal integer (`"49153"`, not `"q1"`, `"1.0"` or `"007"`)
fits. The VizWiz image name is the last path part of the dataset's `image` field (`data/vizwiz/test/
VizWiz_test_00000000.jpg` -> `VizWiz_test_00000000.jpg`): predictions.jsonl does not keep the image, so the
task's dataset is read, as it is anyway to check that every question has an answer.

Answers are written exactly as predicted. Monkey's and Qwen-VL's scripts write `tokenizer.decode(...).strip()`
and change nothing after; monkeyeval's adapters strip at decode time the same way, so predictions.jsonl
already holds what those scripts submit. LLaVA and lmms-eval also run the EvalAI answer processor (case,
punctuation, number words) first; we do not, as Monkey does not: the VQA servers normalise answers themselves.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from monkeyeval.core import jsontext
from monkeyeval.core.errors import IncompleteResults, UserError
from monkeyeval.core.types import MISSING_PREDICTION_ERRORS, PredictionRecord, Sample

if TYPE_CHECKING:
    from monkeyeval.tasks.registry import TaskRegistry

SHOW = 5
_DECIMAL = re.compile(r"0|-?[1-9][0-9]*")


class ExportError(UserError):
    """A run that cannot be exported as it is: not a finished run, or ids that do not fit (exit 2)."""


class IncompleteExport(IncompleteResults):
    """A finished run without an answer for every question of its dataset (exit 1)."""


@dataclass(frozen=True)
class SubmissionFormat:
    """One server's file: the key naming each question, and whether that is an image name or an int id."""

    name: str
    server: str
    key: str
    by_image: bool
    task_words: tuple[str, ...]  # a task name holding none of these is probably another dataset (a note)


FORMATS: dict[str, SubmissionFormat] = {
    "docvqa": SubmissionFormat("docvqa", "DocVQA Task 1 at rrc.cvc.uab.es", "questionId", False, ("docvqa",)),
    "infovqa": SubmissionFormat(
        "infovqa", "InfographicVQA at rrc.cvc.uab.es", "questionId", False, ("info",)
    ),
    "textvqa-evalai": SubmissionFormat(
        "textvqa-evalai", "TextVQA on EvalAI", "question_id", False, ("textvqa",)
    ),
    "vizwiz-evalai": SubmissionFormat("vizwiz-evalai", "VizWiz VQA on EvalAI", "image", True, ("vizwiz",)),
}


@dataclass(frozen=True)
class FinishedRun:
    """A run folder whose summary (scores.json or predict_only.json) and predictions.jsonl agree."""

    run_dir: Path
    summary: Path
    task: str
    predict_only: bool
    records: list[PredictionRecord]
    limit: int | None = None
    jsonl_sha256: str | None = None  # the dataset file the run read (its fingerprint)
    metric: str = ""
    score: float | None = None
    resumable: bool = False  # written by `monkeyeval run` (run.json): re-running resumes it


@dataclass(frozen=True)
class Submission:
    """The entries of a submission file in dataset order, and what the user should know about them."""

    format: SubmissionFormat
    entries: list[dict[str, int | str]]
    notes: list[str] = field(default_factory=list)


def get_format(name: str) -> SubmissionFormat:
    """The format called `name`; ExportError listing the choices otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ExportError(f"unknown --format {name!r}; choose one of {', '.join(FORMATS)}") from None


def first(values: list[str]) -> str:
    """The first few values, quoted: `'a', 'b', ...`."""
    return ", ".join(repr(v) for v in values[:SHOW]) + (", ..." if len(values) > SHOW else "")


def integer_id(sample_id: str) -> int | None:
    """`sample_id` as the int it spells in plain decimal, or None (`"q1"`, `"1.0"`, `"007"`, `" 7"`)."""
    return int(sample_id) if _DECIMAL.fullmatch(sample_id) else None


def image_name(image: str) -> str:
    """The file name of a dataset image field (its last `/` or `\\` separated part)."""
    return image.replace("\\", "/").rsplit("/", 1)[-1]


def submission_key(fmt: SubmissionFormat, sample: Sample) -> int | str | None:
    """What `fmt` names `sample` by (image file name or integer id); None when the sample has none."""
    if fmt.by_image:
        return image_name(sample.image) or None
    return integer_id(sample.id)


def build_submission(
    fmt: SubmissionFormat,
    run: FinishedRun,
    samples: list[Sample],
    *,
    dataset: Path,
    allow_errors: bool = False,
) -> Submission:
    """One entry per dataset sample, in dataset order; refuses anything the server would reject or score as
    a wrong answer without the user knowing (IncompleteExport / ExportError name the run and the fix).

    Records whose `error` is a missing-prediction placeholder (`MISSING_PREDICTION_ERRORS`) count as missing.
    """
    if run.limit is not None:
        raise IncompleteExport(
            f"{run.run_dir}: the run used --limit {run.limit}, so it answers only part of {dataset}; a "
            "submission needs an answer for every question: re-run the task without --limit (it resumes, "
            "keeping the predictions it has), then export"
        )
    by_id: dict[str, PredictionRecord] = {}
    repeated = []
    for record in run.records:
        if record.id in by_id:
            repeated.append(record.id)
        by_id[record.id] = record
    if repeated:
        raise ExportError(f"{run.run_dir / 'predictions.jsonl'}: ids appear twice (first: {first(repeated)})")
    known = {s.id for s in samples}
    foreign = [r.id for r in run.records if r.id not in known]
    if foreign:
        raise ExportError(
            f"{run.run_dir}: {len(foreign)} predictions have ids that {dataset} does not hold (first: "
            f"{first(foreign)}): the run was made on another dataset than task {run.task!r} reads now; "
            "pass the --data-root / --tasks-dir the run used"
        )
    _refuse_missing(run, samples, by_id)
    errored = [r for r in (by_id[s.id] for s in samples) if r.error is not None]
    if errored and not allow_errors:
        shown = "; ".join(f"{r.id!r}: {r.error}" for r in errored[:3])
        retry = (
            "re-run the same `monkeyeval run` command to retry them"
            if run.resumable
            else "fix them in the predictions file and re-run `monkeyeval score`"
        )
        raise IncompleteExport(
            f"{run.run_dir}: {len(errored)} of {len(samples)} predictions are errors, not answers ({shown}); "
            f"{retry}, or pass --allow-errors to submit them with the text they have (usually empty)"
        )
    keys = [submission_key(fmt, sample) for sample in samples]
    _refuse_bad_keys(fmt, run, samples, keys, dataset)
    entries: list[dict[str, int | str]] = []
    for sample, key in zip(samples, keys, strict=True):
        assert key is not None
        entries.append({fmt.key: key, "answer": by_id[sample.id].prediction})
    notes = _notes(fmt, run, keys, len(errored))
    return Submission(fmt, entries, notes)


def _refuse_missing(
    run: FinishedRun,
    samples: list[Sample],
    by_id: dict[str, PredictionRecord],
) -> None:
    """IncompleteExport when some dataset sample has no record, or only a missing-prediction placeholder."""
    absent = [s.id for s in samples if s.id not in by_id]
    placeholders = [s.id for s in samples if s.id in by_id and by_id[s.id].error in MISSING_PREDICTION_ERRORS]
    without = {*absent, *placeholders}
    missing = [s.id for s in samples if s.id in without]
    if not missing:
        return
    fixes = []
    if placeholders:
        fixes.append(
            "re-run the same `monkeyeval run` command (it resumes and fills them in)"
            if run.resumable
            else "add them to the predictions file and re-run `monkeyeval score`"
        )
    if absent and not run.predict_only:
        fixes.append(
            f"{len(absent)} of them were never run (a scored run skips samples without an answer): run the "
            "task with `monkeyeval run --predict-only`"
        )
    elif absent:
        fixes.append("re-run the same `monkeyeval run` command to predict them")
    raise IncompleteExport(
        f"{run.run_dir}: {len(missing)} of {len(samples)} dataset samples have no prediction (first ids: "
        f"{first(missing)}); a submission needs an answer for every question: {'; '.join(fixes)}"
    )


def _refuse_bad_keys(
    fmt: SubmissionFormat,
    run: FinishedRun,
    samples: list[Sample],
    keys: list[int | str | None],
    dataset: Path,
) -> None:
    """ExportError when a sample has no key for `fmt`, or two samples share one."""
    bad = [s.image if fmt.by_image else s.id for s, key in zip(samples, keys, strict=True) if key is None]
    if bad:
        what = (
            "image fields without a file name"
            if fmt.by_image
            else f"ids that are not integer question ids ({fmt.key} must be an int)"
        )
        raise ExportError(
            f"{run.run_dir}: {len(bad)} of {len(samples)} samples of {dataset} have {what} (first: "
            f"{first(bad)}), so --format {fmt.name} cannot name them; export a task whose dataset holds the "
            "server's own ids, or choose another --format"
        )
    repeated = [str(key) for key, count in Counter(keys).items() if count > 1]
    if repeated:
        per = "image" if fmt.by_image else "id"
        raise ExportError(
            f"{run.run_dir}: {len(repeated)} {fmt.key} values name more than one sample of {dataset} (first: "
            f"{first(repeated)}); {fmt.server} takes one answer per {per}"
        )


def _notes(fmt: SubmissionFormat, run: FinishedRun, keys: list[int | str | None], errored: int) -> list[str]:
    notes = []
    if run.predict_only:
        notes.append(f"predict-only run ({run.summary.name}): these answers were never scored here")
    else:
        score = f"{run.metric} {run.score:.4g}" if run.score is not None else run.metric
        notes.append(
            f"scored run ({run.summary.name}, {score}): its split has answers, and the official servers "
            "score test splits; check that this is the split you mean to submit"
        )
    if not any(word in run.task.lower() for word in fmt.task_words):
        words = ", ".join(fmt.task_words)
        notes.append(
            f"task {run.task!r} does not look like a {fmt.name} task (no {words} in it); check --format"
        )
    if fmt.by_image:
        other = [str(key) for key in keys if not str(key).startswith("VizWiz_test_")]
        if other:
            notes.append(
                f"{len(other)} image names do not start with 'VizWiz_test_' (first: {first(other)}); the "
                "test server expects the test images"
            )
    if errored:
        notes.append(f"{errored} errored samples are submitted with the text they have (--allow-errors)")
    return notes


def read_finished_run(run_dir: Path) -> FinishedRun:
    """The finished run in `run_dir` (ExportError: no summary, a live lock, a pair that disagrees)."""
    from monkeyeval.results.pair import pair_problem, refinalise_hint
    from monkeyeval.results.predict_only import PREDICT_ONLY_FILE, read_predict_only_file
    from monkeyeval.results.reader import read_scores_file
    from monkeyeval.runner.lock import lock_dir, read_holder

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportError(f"{run_dir}: no such folder; pass a run folder, results/<model>/<task>/")
    for lock in sorted(lock_dir(run_dir).glob("*.lock")):
        holder = read_holder(lock)
        if holder is not None and holder.is_alive():
            raise ExportError(
                f"{run_dir} is being written by a run ({holder.describe()}; lock {lock}): wait for it to "
                "finish, then export"
            )
    scores, predict_only = run_dir / "scores.json", run_dir / PREDICT_ONLY_FILE
    problems = []
    for summary in (scores, predict_only):
        if not summary.is_file():
            continue
        run = read_scores_file(summary) if summary == scores else read_predict_only_file(summary)
        problem = pair_problem(run)
        if problem is not None:
            problems.append(problem)
            continue
        fingerprint = dict(run.fingerprint)
        return FinishedRun(
            run_dir=run_dir,
            summary=summary,
            task=run.task,
            predict_only=summary == predict_only,
            records=_read_records(run.predictions_path, refinalise_hint(run_dir)),
            limit=run.limit,
            jsonl_sha256=fingerprint.get("jsonl_sha256"),
            metric=run.metric,
            score=getattr(run, "score", None),
            resumable=(run_dir / "run.json").is_file(),
        )
    if problems:
        raise ExportError(problems[0])
    pending = (run_dir / "run.json").is_file() or (run_dir / "parts").is_dir()
    hint = (
        f"its shards may still be running or waiting to be merged: let them finish, or run "
        f"`monkeyeval merge {run_dir}`"
        if pending
        else "pass the folder results/<model>/<task>/ that `monkeyeval run` or `monkeyeval score` wrote"
    )
    raise ExportError(
        f"{run_dir}: not a finished run (it holds no scores.json or {PREDICT_ONLY_FILE}); {hint}"
    )


def _read_records(path: Path, fix: str) -> list[PredictionRecord]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(PredictionRecord.from_json(jsontext.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
                raise ExportError(f"{path}:{line_no}: not a prediction record ({err!r}); {fix}") from None
    return records


def export_run(
    run_dir: Path, format_name: str, registry: TaskRegistry, *, allow_errors: bool = False
) -> tuple[FinishedRun, Submission]:
    """Read the finished run in `run_dir` and its task's dataset, and build the `format_name` submission."""
    from monkeyeval.tasks.dataset import jsonl_sha256, load_samples
    from monkeyeval.tasks.registry import UnknownTaskError

    fmt = get_format(format_name)
    run = read_finished_run(run_dir)
    try:
        task = registry.get(run.task)
    except UnknownTaskError as err:
        raise ExportError(
            f"{run.summary}: the run's task {run.task!r} is not a known task; pass the --tasks-dir that "
            f"defines it ({err})"
        ) from None
    loaded = load_samples(task, check_image_root=False, require_answers=False, resolve_images=False)
    jsonl = task.dataset.jsonl
    now = jsonl_sha256(jsonl)
    if run.jsonl_sha256 is not None and now != run.jsonl_sha256:
        raise ExportError(
            f"{jsonl}: the dataset changed since the run (sha256 now {now[:12]}, the run read "
            f"{run.jsonl_sha256[:12]}), so its answers may belong to other questions: re-run the task on "
            "this file, or pass the --data-root the run used"
        )
    submission = build_submission(fmt, run, loaded.samples, dataset=jsonl, allow_errors=allow_errors)
    if loaded.problems:
        lines = ", ".join(str(n) for n in loaded.skipped_lines[:SHOW])
        submission.notes.append(
            f"{jsonl}: {len(loaded.problems)} lines are not valid samples (lines {lines}) and get no "
            "answer; a server that expects one answer per line of its own file will refuse the submission"
        )
    return run, submission


def write_submission(path: Path, submission: Submission) -> None:
    """Write the entries as one JSON array, atomically (temp file, fsync, rename; mode from the umask)."""
    from monkeyeval.core.atomic import atomic_write_json

    atomic_write_json(path, submission.entries)
