"""Prediction files of other harnesses -> one row per sample id, for `monkeyeval score --format`.

Formats (what each harness writes):

* `monkeyeval`: one JSON object per line, `{"id", "prediction"}` plus optional `prompt`, `error`,
  `truncated`, `n_new_tokens` (what `monkeyeval run` writes to predictions.jsonl).
* `multimodalocr`: MultimodalOCR's OCRBench scripts (`scripts/monkey.py`, `MiniMonkey.py`, ...) load the
  dataset's JSON array, set `item["predict"]` on every item and dump the array again; the id of an item is
  made by the task's id rule (`fields.id`, `{dataset_name}/{id}` for OCRBench).
* `vlmevalkit`: VLMEvalKit's prediction file `<model>_<dataset>.xlsx` (or `.tsv`/`.csv`): a table with
  `index` (the sample id; `convert vlmevalkit` makes it the question_id) and `prediction`. It is read as
  VLMEvalKit reads it (pandas' defaults, then `str()` on every prediction, `image_vqa.evaluate_heuristic`),
  so an empty cell is "nan" and a column of numbers gives "3.5" for "3.50", as VLMEvalKit scores them.
  xlsx needs openpyxl.
* `monkey`: Monkey's `eval/evaluate_vqa.py` results file, a JSON array of `{"questionId" | "question_id",
  "answer", ...}` (facts §2.5); `answer` is the prediction. Its chartqa, ai2diagram, WTQ, deepform and KLC
  files carry no question id and cannot be matched to samples.
* `lmms-eval`: the `--log_samples` file `<model>/<date>_samples_<task>.jsonl` (lmms-eval's
  `lmms_eval/loggers/evaluation_tracker.py` `save_results_samples`, records from `lmms_eval/evaluator.py`):
  one object per line with `doc_id` (the row's 0-based index in the split), `filtered_resps` (the scored
  text: `[text]` up to 0.6, `text` from 0.7, which flattens one-request docs), `target`, `doc_hash`, the
  per-sample metrics, and (0.2.3 to 0.3.x only) `doc`, the dataset row without its images. The id comes from
  `doc` by the task's id rule; a record without one (lmms-eval 0.4 and later drop `doc`) is matched by
  `doc_id` as the row of the task's dataset file (`#row`), which holds when the task reads the same split.

`auto` reads the file's first character and first record to tell them apart and says why when it cannot.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monkeyeval.core import jsontext
from monkeyeval.core.errors import UserError
from monkeyeval.tasks.config import FieldMap

FORMATS = ("auto", "monkeyeval", "multimodalocr", "monkey", "vlmevalkit", "lmms-eval")
TABLE_SUFFIXES = {".xlsx": "xlsx", ".tsv": "tsv", ".csv": "csv"}
MONKEY_ID_KEYS = ("questionId", "question_id")
LMMS_EVAL_KEYS = ("doc_id", "filtered_resps")
RowIds = Callable[[], dict[int, str]]
"""The task's dataset as 0-based row -> sample id (made only when a file matches by position)."""


class PredictionsFormatError(UserError):
    """The file is not in the format given (or `auto` cannot tell); the message says what to pass."""


@dataclass
class ExternalPredictions:
    """A parsed predictions file: rows by id (first occurrence), duplicated ids, record problems, and notes
    on how records were matched (shown by `score`)."""

    format: str
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, row: dict[str, Any]) -> None:
        """Keep the first row of each id; a repeated id is listed in `duplicates`."""
        if key in self.rows:
            self.duplicates.append(key)
        else:
            self.rows[key] = row


def read_predictions(
    path: Path, fmt: str, fields: FieldMap, row_ids: RowIds | None = None
) -> ExternalPredictions:
    """Parse `path` in format `fmt` (one of FORMATS); `fields` is the task's field map (its id rule);
    `row_ids` gives the dataset's ids by row, for records matched by position (without it, the position is
    the id)."""
    chosen = detect_format(path) if fmt == "auto" else fmt
    if chosen == "monkeyeval":
        return _read_monkeyeval(path)
    if chosen == "vlmevalkit":
        return _read_vlmevalkit(path)
    if chosen == "lmms-eval":
        return _read_lmms_eval(path, fields, row_ids)
    if chosen not in FORMATS:
        raise PredictionsFormatError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    items = _json_array(path, chosen)
    parsed = ExternalPredictions(chosen)
    for number, item in enumerate(items, start=1):
        where = f"{path} item {number}"
        if not isinstance(item, dict):
            parsed.problems.append(f"{where}: expected a JSON object, got {type(item).__name__}")
        elif chosen == "multimodalocr":
            _add_multimodalocr(parsed, item, where, fields, number - 1)
        else:
            _add_monkey(parsed, item, where)
    return parsed


def detect_format(path: Path) -> str:
    """`monkeyeval`, `lmms-eval`, `multimodalocr`, `monkey` or `vlmevalkit` (by suffix: .xlsx, .tsv, .csv),
    from the first character and the first record's keys."""
    if path.suffix.lower() in TABLE_SUFFIXES:
        return "vlmevalkit"
    with open(path, "rb") as handle:
        line = b""
        while not line.strip() and (chunk := handle.readline()):
            line = chunk  # the first non-blank line
    head = line.decode("utf-8-sig", errors="replace").strip()
    hint = f"pass --format ({', '.join(FORMATS[1:])})"
    if not head:
        return "monkeyeval"  # an empty file: `score` says it holds no predictions
    if head.startswith("{"):
        try:
            row = jsontext.loads(head)
        except json.JSONDecodeError:
            row = None
        native = isinstance(row, dict) and "id" in row and "prediction" in row
        lmms_eval = isinstance(row, dict) and all(key in row for key in LMMS_EVAL_KEYS)
        if native and lmms_eval:
            raise PredictionsFormatError(
                f"{path}: its first line has both monkeyeval's 'id' + 'prediction' and lmms-eval's "
                "'doc_id' + 'filtered_resps'; pass --format monkeyeval or --format lmms-eval"
            )
        if native or lmms_eval:
            return "monkeyeval" if native else "lmms-eval"
        raise PredictionsFormatError(
            f'{path}: its first line is not a {{"id": ..., "prediction": ...}} object, nor an lmms-eval '
            f"--log_samples record ('doc_id', 'filtered_resps', ...); {hint}"
        )
    if head.startswith("["):
        items = _json_array(path, "auto")
        record = next((item for item in items if isinstance(item, dict)), None)
        if record is not None and "predict" in record:
            return "multimodalocr"
        if record is not None and "answer" in record and any(key in record for key in MONKEY_ID_KEYS):
            return "monkey"
        keys = ", ".join(sorted(record)) if record is not None else "none"
        raise PredictionsFormatError(
            f"{path}: a JSON array whose first record (keys: {keys}) has neither MultimodalOCR's 'predict' "
            f"nor Monkey's 'questionId'/'question_id' + 'answer'; {hint}"
        )
    raise PredictionsFormatError(f"{path}: neither JSON lines nor a JSON array; {hint}")


def _json_array(path: Path, fmt: str) -> list[Any]:
    try:
        data = jsontext.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PredictionsFormatError(
            f"{path}: not a valid JSON file ({exc}); --format {fmt} reads one"
        ) from None
    if not isinstance(data, list):
        raise PredictionsFormatError(
            f"{path}: expected a JSON array for --format {fmt}, got {type(data).__name__}"
        )
    return data


def _add_multimodalocr(
    parsed: ExternalPredictions, item: dict[str, Any], where: str, fields: FieldMap, row: int
) -> None:
    raw_id = fields.make_id(item, row)
    prediction = item.get("predict")
    if raw_id is None or isinstance(raw_id, (dict, list)):
        keys = ", ".join(repr(key) for key in fields.id_keys)
        parsed.problems.append(f"{where}: the task's id rule {fields.id!r} needs the keys {keys}")
    elif not isinstance(prediction, str):
        parsed.problems.append(
            f"{where}: 'predict' must be a string (the model's answer), got {prediction!r}"
        )
    else:
        parsed.add(str(raw_id), {"prediction": prediction})


def _add_monkey(parsed: ExternalPredictions, item: dict[str, Any], where: str) -> None:
    key = next((key for key in MONKEY_ID_KEYS if key in item), None)
    if key is None:
        parsed.problems.append(
            f"{where}: no 'questionId' or 'question_id' (Monkey's chartqa/ai2diagram/WTQ/deepform/KLC result "
            "files carry none, so their answers cannot be matched to samples)"
        )
        return
    raw_id, answer = item[key], item.get("answer")
    if raw_id is None or isinstance(raw_id, (dict, list)) or not isinstance(answer, str):
        parsed.problems.append(f"{where}: {key!r} must be a string or number and 'answer' a string")
        return
    parsed.add(str(raw_id), {"prediction": answer})


def _read_vlmevalkit(path: Path) -> ExternalPredictions:
    import pandas as pd

    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    try:
        if kind == "xlsx":
            table = pd.read_excel(path)
        else:
            table = pd.read_csv(path, sep="\t" if kind == "tsv" else ",")
    except ImportError as exc:
        raise PredictionsFormatError(
            f"{path}: reading .xlsx needs openpyxl ({exc}); `pip install openpyxl`, or save the sheet as .tsv"
        ) from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise PredictionsFormatError(
            f"{path}: not a VLMEvalKit prediction table ({exc}); expected columns index and prediction "
            "(a .xlsx, .tsv or .csv file)"
        ) from None
    missing = [column for column in ("index", "prediction") if column not in table.columns]
    if missing:
        raise PredictionsFormatError(
            f"{path}: no {' or '.join(missing)} column (columns: {', '.join(map(str, table.columns))}); a "
            "VLMEvalKit prediction table has index and prediction"
        )
    parsed = ExternalPredictions("vlmevalkit")
    for position, (index, prediction) in enumerate(zip(table["index"], table["prediction"], strict=True)):
        if pd.isna(index):
            parsed.problems.append(f"{path} row {position + 2}: empty index")
            continue
        parsed.add(str(index), {"prediction": str(prediction)})  # str() as VLMEvalKit: NaN -> "nan"
    return parsed


def _read_monkeyeval(path: Path) -> ExternalPredictions:
    parsed = ExternalPredictions("monkeyeval")
    for line_no, row, problem in _jsonl_rows(path):
        if problem is not None:
            parsed.problems.append(f"{path}:{line_no}: {problem}")
        else:
            parsed.add(str(row["id"]), row)
    return parsed


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any], str | None]]:
    """(line number, row, None) for each valid line; (line number, {}, why) for a bad one."""
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = jsontext.loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))  # BOM accepted
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                yield line_no, {}, f"not a JSON object line ({exc})"
                continue
            if not isinstance(row, dict) or "id" not in row or "prediction" not in row:
                yield line_no, {}, 'expected {"id": ..., "prediction": "..."}'
                continue
            tokens = row.get("n_new_tokens")
            bad_tokens = tokens is not None and (not isinstance(tokens, int) or isinstance(tokens, bool))
            if bad_tokens or not isinstance(row.get("truncated", False), bool):
                yield line_no, {}, "'n_new_tokens' must be an integer, 'truncated' a boolean"
                continue
            if (
                not isinstance(row["prediction"], str)
                or isinstance(row["id"], (dict, list))
                or row["id"] is None
            ):
                yield line_no, {}, "'prediction' must be a string and 'id' a string or number"
                continue
            yield line_no, row, None


def _read_lmms_eval(path: Path, fields: FieldMap, row_ids: RowIds | None) -> ExternalPredictions:
    """lmms-eval `--log_samples` records -> rows by the task's ids (see the module docstring)."""
    parsed = ExternalPredictions("lmms-eval")
    by_row: dict[int, str] | None = None
    n_by_position = 0
    for line_no, record, problem in _json_object_lines(path):
        where = f"{path}:{line_no}"
        prediction = _lmms_eval_prediction(record) if problem is None else None
        doc_id = record.get("doc_id")
        if problem is None and prediction is None:
            problem = "'filtered_resps' must hold the generated text (a string, or a list starting with one)"
        if problem is None and (not isinstance(doc_id, int) or isinstance(doc_id, bool) or doc_id < 0):
            problem = f"'doc_id' must be a row number (an integer >= 0), got {doc_id!r}"
        if problem is not None or prediction is None or not isinstance(doc_id, int):
            parsed.problems.append(f"{where}: {problem}")
            continue
        key = _id_from_doc(record.get("doc"), doc_id, fields)
        if key is None:
            n_by_position += 1
            if row_ids is None:
                key = str(doc_id)
            else:
                by_row = row_ids() if by_row is None else by_row
                key = by_row.get(doc_id)
                if key is None:
                    parsed.problems.append(
                        f"{where}: doc_id {doc_id} is no row of the task's dataset ({len(by_row)} valid "
                        "rows); the lmms-eval task read another split or file"
                    )
                    continue
        parsed.add(key, {"prediction": prediction})
    if n_by_position and fields.item_keys:  # (an id rule of `{#row}` alone is the position itself)
        keys = ", ".join(repr(key) for key in fields.item_keys)
        parsed.notes.append(
            f"{n_by_position} lmms-eval records carry no `doc` with the id rule's keys ({keys}); lmms-eval "
            "0.4 and later leave `doc` out of --log_samples files. They were matched by doc_id as the "
            "0-based row of the task's dataset file, which is right only when the task reads the split "
            "lmms-eval read, in the same order."
        )
    return parsed


def _lmms_eval_prediction(record: dict[str, Any]) -> str | None:
    """The scored text: `filtered_resps` itself (0.7+), or its first item (one per request), or that item's
    first item (a request's repeats)."""
    value = record.get("filtered_resps")
    for _ in range(2):
        if not isinstance(value, list) or not value:
            break
        value = value[0]
    return value if isinstance(value, str) else None


def _id_from_doc(doc: Any, doc_id: int, fields: FieldMap) -> str | None:
    """The id the task's id rule makes of the logged dataset row (`#row` is `doc_id`); None without one."""
    if not isinstance(doc, dict):
        return None
    raw_id = fields.make_id(doc, doc_id)
    if raw_id is None or isinstance(raw_id, (dict, list, bool)):
        return None
    return str(raw_id)


def _json_object_lines(path: Path) -> Iterator[tuple[int, dict[str, Any], str | None]]:
    """(line number, object, None) for each JSON object line; (line number, {}, why) for a bad one."""
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = jsontext.loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                yield line_no, {}, f"not a JSON object line ({exc})"
                continue
            if isinstance(record, dict):
                yield line_no, record, None
            else:
                yield line_no, {}, f"expected a JSON object, got {type(record).__name__}"
