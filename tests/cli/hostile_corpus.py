"""A seeded corpus of hostile inputs, one `Case` each: what a user might hand a command, and what must happen.

Kinds: task YAML files, dataset lines, images, checkpoints and flags, external prediction files, results
trees and gate baselines. Each case builds its files under a scratch folder and names the command to run,
the exit code the README's table gives, and what the output or the results must show. Seeded mutations
(random truncations and byte edits of valid files) come from `random.Random(SEED)`, so a failure reproduces.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

SEED = 20261207
REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CHECKPOINT = REPO_ROOT / "demo" / "checkpoint"
FAKE_SPEC = "runner.fake_adapter:FakeAdapter"

Build = Callable[[Path], list[str]]  # scratch folder -> argv (files written on the way)


@dataclass
class Case:
    """One hostile input: `build` writes it and returns argv; `codes` are the acceptable exit codes."""

    name: str
    build: Build
    codes: tuple[int, ...]
    mentions: tuple[str, ...] = ()  # substrings the output must hold (a file name, a key, a flag)
    skipped_lines: int | None = None  # a run: scores.json n_skipped_lines must be this
    errors: int | None = None  # a run: scores.json n_errors must be this
    problems: int | None = None  # report/gate: how many "skipped" results lines the output must hold


# ------------------------------------------------------------------------------------------ task folders

GOOD_LINES = [
    {"question_id": f"q{i}", "image": f"img{i}.png", "question": f"word {i}?", "answer": f"w{i}"}
    for i in range(4)
]
TASK_YAML = (
    "task: tiny\n"
    "dataset:\n"
    "  relative_to: yaml_dir\n"
    "  jsonl: data/tiny.jsonl\n"
    "  image_root: data/images\n"
    "metric: exact_match_qwen\n"
    "max_new_tokens: 8\n"
    'prompt: "Q: {question}"\n'
)


def task_folder(root: Path, yaml_text: str = TASK_YAML, lines: list[bytes] | None = None) -> Path:
    """tasks/tiny.yaml + data/tiny.jsonl (4 good lines unless `lines`) + 4 small PNGs; returns tasks/."""
    tasks = root / "tasks"
    images = tasks / "data" / "images"
    images.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        Image.new("RGB", (12, 10), (i * 40, 90, 200 - i * 30)).save(images / f"img{i}.png")
    body = lines if lines is not None else [json.dumps(row).encode() for row in GOOD_LINES]
    (tasks / "data" / "tiny.jsonl").write_bytes(b"".join(line + b"\n" for line in body))
    (tasks / "tiny.yaml").write_text(yaml_text, encoding="utf-8")
    return tasks


def fake_checkpoint(root: Path) -> Path:
    folder = root / "fake_ckpt"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "fake_vlm"}), encoding="utf-8")
    return folder


def run_argv(root: Path, tasks: Path, *extra: str, ckpt: Path | None = None) -> list[str]:
    """`run` of task tiny with the fake adapter into root/results (model name `fake`)."""
    model = [] if ckpt is not None else ["--model", FAKE_SPEC]
    return [
        "run",
        "--task",
        "tiny",
        "--tasks-dir",
        str(tasks),
        "--ckpt",
        str(ckpt or fake_checkpoint(root)),
        *model,
        "--results",
        str(root / "results"),
        "--model-name",
        "fake",
        "--num-workers",
        "0",
        *extra,
    ]


# ------------------------------------------------------------------------------------------ task YAML


def yaml_case(name: str, text: str | bytes, mentions: tuple[str, ...] = ("tiny.yaml",)) -> Case:
    def build(root: Path) -> list[str]:
        tasks = task_folder(root)
        path = tasks / "tiny.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return ["tasks", "--tasks-dir", str(tasks)]

    return Case(f"yaml/{name}", build, (2,), mentions)


def replaced(old: str, new: str) -> str:
    assert old in TASK_YAML
    return TASK_YAML.replace(old, new)


def yaml_cases(rng: random.Random) -> list[Case]:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    cases = [
        yaml_case("python-tag", TASK_YAML + 'x: !!python/object/apply:os.system ["echo pwned"]\n'),
        yaml_case("alias-bomb", TASK_YAML + bomb),
        yaml_case("nested-20000", TASK_YAML + "x: " + "[" * 20_000 + "]" * 20_000 + "\n"),
        yaml_case("nested-mappings", TASK_YAML + "x: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n"),
        yaml_case("empty-file", ""),
        yaml_case("only-comments", "# nothing here\n"),
        yaml_case("top-level-list", "- task: tiny\n"),
        yaml_case("top-level-scalar", "tiny\n"),
        yaml_case("not-utf8", TASK_YAML.encode() + b"description: caf\xe9\n"),
        yaml_case("tabs-indent", TASK_YAML.replace("  jsonl", "\tjsonl")),
        yaml_case("missing-task-key", replaced("task: tiny\n", ""), ("tiny.yaml", "task")),
        yaml_case("missing-dataset", TASK_YAML.split("dataset:")[0] + "metric: exact_match_qwen\n"),
        yaml_case("missing-metric", replaced("metric: exact_match_qwen\n", ""), ("tiny.yaml", "metric")),
        yaml_case(
            "unknown-metric", replaced("exact_match_qwen", "exact_match_nope"), ("tiny.yaml", "metric")
        ),
        yaml_case(
            "max-new-tokens-text", replaced("max_new_tokens: 8", "max_new_tokens: ten"), ("max_new_tokens",)
        ),
        yaml_case(
            "max-new-tokens-negative",
            replaced("max_new_tokens: 8", "max_new_tokens: -1"),
            ("max_new_tokens",),
        ),
        yaml_case(
            "max-new-tokens-zero", replaced("max_new_tokens: 8", "max_new_tokens: 0"), ("max_new_tokens",)
        ),
        yaml_case(
            "max-new-tokens-bool", replaced("max_new_tokens: 8", "max_new_tokens: true"), ("max_new_tokens",)
        ),
        yaml_case(
            "max-new-tokens-float", replaced("max_new_tokens: 8", "max_new_tokens: 8.5"), ("max_new_tokens",)
        ),
        yaml_case("typo-key", TASK_YAML + "max_new_token: 4\n", ("max_new_token",)),
        yaml_case("duplicate-key", TASK_YAML + "metric: anls_docvqa\n", ("metric",)),
        yaml_case("task-name-list", replaced("task: tiny", "task: [tiny]"), ("tiny.yaml", "task")),
        yaml_case("task-name-path", replaced("task: tiny", "task: ../escape"), ("tiny.yaml", "task")),
        yaml_case(
            "dataset-scalar", TASK_YAML.split("dataset:")[0] + "dataset: 5\nmetric: exact_match_qwen\n"
        ),
        yaml_case("include-missing", TASK_YAML + "include: nothere.yaml\n", ("nothere.yaml",)),
        yaml_case("include-self", TASK_YAML + "include: tiny.yaml\n", ("tiny.yaml",)),
        yaml_case("group-bad-name", TASK_YAML + "group: 'a b/c'\n", ("group",)),
        yaml_case("prompt-attribute", replaced("{question}", "{question.__class__}"), ("prompt",)),
        yaml_case("prompt-index", replaced("{question}", "{question[0]}"), ("prompt",)),
        yaml_case("prompt-unknown-field", replaced("{question}", "{secret}"), ("prompt",)),
        yaml_case("prompt-unbalanced", replaced("{question}", "{question"), ("prompt",)),
        yaml_case("breakdown-scalar", TASK_YAML + "breakdown: 3\n", ("breakdown",)),
        yaml_case("profiles-list", TASK_YAML + "profiles: [monkey_vqa]\n", ("profiles",)),
    ]
    # seeded byte edits of the valid file: any outcome but a traceback (most are usage errors)
    valid = TASK_YAML.encode()
    for number in range(12):
        data = bytearray(valid)
        position = rng.randrange(len(data))
        action = rng.choice(("delete", "insert", "replace"))
        if action == "delete":
            del data[position : position + rng.randint(1, 6)]
        elif action == "insert":
            data[position:position] = bytes(
                rng.choice(b":{}[]&*!|>#'\"\t\n-") for _ in range(rng.randint(1, 3))
            )
        else:
            data[position] = rng.randrange(256)
        case = yaml_case(f"mutation-{number:02d}", bytes(data), ())
        case.codes = (0, 2)
        cases.append(case)
    return cases


# ------------------------------------------------------------------------------------------ dataset lines


def line_case(
    name: str, bad: bytes, skipped: int = 1, errors: int = 0, codes: tuple[int, ...] = (0,)
) -> Case:
    """Four good lines and `bad` after the second: the run goes on and counts the bad line."""

    def build(root: Path) -> list[str]:
        good = [json.dumps(row).encode() for row in GOOD_LINES]
        return run_argv(root, task_folder(root, lines=[*good[:2], bad, *good[2:]]))

    mentions = ("tiny.jsonl", "line 3") if skipped else ()
    return Case(f"line/{name}", build, codes, mentions, skipped_lines=skipped, errors=errors)


def with_fields(**changes: object) -> bytes:
    row: dict[str, object] = {"question_id": "qx", "image": "img0.png", "question": "q?", "answer": "a"}
    for key, value in changes.items():
        if value is DROP:
            row.pop(key)
        else:
            row[key] = value
    return json.dumps(row).encode()


DROP = object()


def dataset_cases() -> list[Case]:
    cases = [
        line_case("not-json", b"{this is not json"),
        line_case("truncated-json", with_fields()[:-5]),
        line_case("array", b"[1, 2, 3]"),
        line_case("number", b"42"),
        line_case("string", b'"just a string"'),
        line_case("null", b"null"),
        line_case(
            "non-utf8", b'{"question_id": "qx", "image": "img0.png", "question": "caf\xe9", "answer": "a"}'
        ),
        line_case("nested-20000", b"[" * 20_000 + b"]" * 20_000),
        line_case("missing-question", with_fields(question=DROP)),
        line_case("missing-image", with_fields(image=DROP)),
        line_case("missing-answer", with_fields(answer=DROP)),
        line_case("question-number", with_fields(question=5)),
        line_case("question-null", with_fields(question=None)),
        line_case("image-list", with_fields(image=["img0.png"])),
        line_case("id-object", with_fields(question_id={"a": 1})),
        line_case("id-null", with_fields(question_id=None)),
        line_case("answer-null", with_fields(answer=None)),
        line_case("answer-nested", with_fields(answer={"text": "a"})),
        line_case("answer-list-of-lists", with_fields(answer=[["a"]])),
        line_case("answer-empty-list", with_fields(answer=[])),
        line_case("answer-empty-string", with_fields(answer="")),
        line_case("answer-blank-strings", with_fields(answer=[" ", ""])),
        line_case("answer-bool", with_fields(answer=True)),
        line_case("duplicate-id", with_fields(question_id="q0"), skipped=0, codes=(2,)),
        # acceptable lines: read as samples, nothing skipped
        line_case(
            "lone-surrogate",
            b'{"question_id": "qx", "image": "img0.png", "question": "\\ud800", "answer": "a"}',
            0,
        ),
        line_case("huge-question", with_fields(question="x" * 1_000_000), 0),
        line_case("blank-line", b"   ", 0),
        line_case("extra-fields", with_fields(extra={"deep": [1, 2, {"x": None}]}), 0),
    ]
    bom = Case("line/bom-first-line", _bom_build, (0,), skipped_lines=0, errors=0)
    crlf = Case("line/crlf-endings", _crlf_build, (0,), skipped_lines=0, errors=0)
    return [*cases, bom, crlf]


def _bom_build(root: Path) -> list[str]:
    good = [json.dumps(row).encode() for row in GOOD_LINES]
    return run_argv(root, task_folder(root, lines=[b"\xef\xbb\xbf" + good[0], *good[1:]]))


def _crlf_build(root: Path) -> list[str]:
    good = [json.dumps(row).encode() + b"\r" for row in GOOD_LINES]
    return run_argv(root, task_folder(root, lines=good))


# ------------------------------------------------------------------------------------------ images


def image_case(name: str, damage: Callable[[Path], str | None], errors: int = 1) -> Case:
    """Sample 1's image is replaced by `damage(images_dir)` (which may rename the image field)."""

    def build(root: Path) -> list[str]:
        tasks = task_folder(root)
        images = tasks / "data" / "images"
        (images / "img1.png").unlink()
        field_value = damage(images)
        if field_value is not None:
            rows = [dict(row) for row in GOOD_LINES]
            rows[1]["image"] = field_value
            (tasks / "data" / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
        return run_argv(root, tasks)

    return Case(f"image/{name}", build, (0,), skipped_lines=0, errors=errors)


def image_cases(rng: random.Random) -> list[Case]:
    def fifo(images: Path) -> None:
        os.mkfifo(images / "img1.png")

    def directory(images: Path) -> None:
        (images / "img1.png").mkdir()

    def empty(images: Path) -> None:
        (images / "img1.png").write_bytes(b"")

    def text(images: Path) -> None:
        (images / "img1.png").write_text("not an image", encoding="utf-8")

    def truncated(images: Path) -> None:
        Image.new("RGB", (64, 64), (1, 2, 3)).save(images / "full.png")
        data = (images / "full.png").read_bytes()
        (images / "img1.png").write_bytes(data[: rng.randint(8, len(data) - 8)])

    def escaping_link(images: Path) -> None:
        (images / "img1.png").symlink_to("/etc/hostname")

    def dev_link(images: Path) -> None:
        (images / "img1.png").symlink_to("/dev/zero")

    def bomb(images: Path) -> None:
        Image.new("1", (30_000, 30_000)).save(images / "img1.png")

    def dangling(images: Path) -> None:
        (images / "img1.png").symlink_to(images / "nowhere.png")

    return [
        image_case("fifo", fifo),
        image_case("directory", directory),
        image_case("zero-bytes", empty),
        image_case("text-file", text),
        image_case("truncated-png", truncated),
        image_case("symlink-outside-root", escaping_link),
        image_case("symlink-to-device", dev_link),
        image_case("decompression-bomb", bomb),
        image_case("dangling-symlink", dangling),
        image_case("missing", lambda images: None),
        image_case("parent-traversal", lambda images: "../../tiny.yaml"),
        image_case("absolute-path", lambda images: "/etc/passwd"),
        image_case("nul-in-path", lambda images: "img\u00001.png"),
        image_case("empty-path", lambda images: ""),
        image_case("root-itself", lambda images: "."),
    ]


# ------------------------------------------------------------------------------------------ checkpoints


def demo_copy(root: Path) -> Path:
    folder = root / "ckpt"
    shutil.copytree(DEMO_CHECKPOINT, folder)
    return folder


def checkpoint_case(name: str, damage: Callable[[Path], None], mentions: tuple[str, ...]) -> Case:
    def build(root: Path) -> list[str]:
        ckpt = demo_copy(root)
        damage(ckpt)
        return run_argv(root, task_folder(root), ckpt=ckpt)

    return Case(f"checkpoint/{name}", build, (2,), mentions)


def flag_case(name: str, extra: tuple[str, ...], mentions: tuple[str, ...]) -> Case:
    def build(root: Path) -> list[str]:
        return [*run_argv(root, task_folder(root), ckpt=DEMO_CHECKPOINT), *extra]

    return Case(f"flag/{name}", build, (2,), mentions)


def checkpoint_cases(rng: random.Random) -> list[Case]:
    weights = "model.safetensors"

    def cut(fraction_of: Callable[[int], int]) -> Callable[[Path], None]:
        def damage(ckpt: Path) -> None:
            data = (ckpt / weights).read_bytes()
            (ckpt / weights).write_bytes(data[: fraction_of(len(data))])

        return damage

    def edit_config(change: Callable[[dict], None]) -> Callable[[Path], None]:
        def damage(ckpt: Path) -> None:
            config = json.loads((ckpt / "config.json").read_text(encoding="utf-8"))
            change(config)
            (ckpt / "config.json").write_text(json.dumps(config), encoding="utf-8")

        return damage

    def write(name: str, data: bytes) -> Callable[[Path], None]:
        return lambda ckpt: (ckpt / name).write_bytes(data)

    cases = [
        checkpoint_case(f"truncated-{i}", cut(lambda n, r=rng.random(): int(n * r)), (weights,))
        for i in range(5)
    ]
    cases += [
        checkpoint_case("one-byte-short", cut(lambda n: n - 1), (weights,)),
        checkpoint_case("empty-weights", write(weights, b""), (weights,)),
        checkpoint_case("garbage-weights", write(weights, os.urandom(4096)), (weights,)),
        checkpoint_case("no-weights", lambda ckpt: (ckpt / weights).unlink(), ("no weights found",)),
        checkpoint_case("config-not-json", write("config.json", b"{not json"), ("config.json",)),
        checkpoint_case("config-nested", write("config.json", b"[" * 20_000), ("config.json",)),
        checkpoint_case("config-list", write("config.json", b"[1, 2]"), ("config.json",)),
        checkpoint_case("config-missing", lambda ckpt: (ckpt / "config.json").unlink(), ("config.json",)),
        checkpoint_case(
            "hidden-size-text",
            edit_config(lambda c: c["text_config"].update(hidden_size="sixty-four")),
            ("config.json", "hidden_size"),
        ),
        checkpoint_case(
            "layers-negative",
            edit_config(lambda c: c["text_config"].update(num_hidden_layers=-3)),
            ("checkpoint tensors the model does not use",),
        ),
        checkpoint_case(
            "layers-fewer",
            edit_config(lambda c: c["text_config"].update(num_hidden_layers=1)),
            ("layers.1.",),
        ),
        checkpoint_case(
            "vocab-changed",
            edit_config(lambda c: c["text_config"].update(vocab_size=300)),
            ("wrong shape",),
        ),
        checkpoint_case("tokenizer-garbage", write("tokenizer.json", b"garbage"), ("tokenizer",)),
        checkpoint_case("index-garbage", write("model.safetensors.index.json", b"{"), ("index",)),
        checkpoint_case(
            "index-missing-shard",
            write("model.safetensors.index.json", b'{"weight_map": {"w": "model-00002.safetensors"}}'),
            ("model-00002.safetensors",),
        ),
        flag_case("dtype-fp8", ("--dtype", "fp8"), ("fp8",)),
        flag_case("device-gpu", ("--device", "gpu"), ("--device",)),
        flag_case("model-unknown", ("--model", "nosuchfamily"), ("nosuchfamily",)),
        flag_case("model-option-no-value", ("--model-option", "foo"), ("--model-option",)),
        flag_case("model-option-unknown", ("--model-option", "foo=1"), ("foo",)),
        flag_case("prompt-profile-unknown", ("--prompt-profile", "nope"), ("nope",)),
        flag_case("shard-out-of-range", ("--shard", "3/2"), ("--shard",)),
        flag_case("shard-text", ("--shard", "a/b"), ("--shard",)),
        flag_case("batch-size-zero", ("--batch-size", "0"), ("--batch-size",)),
        flag_case("limit-zero", ("--limit", "0"), ("--limit",)),
        flag_case("unknown-task", ("--task", "nosuchtask"), ("nosuchtask",)),
        flag_case("ckpt-missing", ("--ckpt", "/nonexistent/checkpoint"), ("/nonexistent/checkpoint",)),
    ]
    return cases


# ------------------------------------------------------------------------------------------ prediction files


def predictions_case(
    name: str, body: bytes, codes: tuple[int, ...] = (2,), mentions=("preds.jsonl",)
) -> Case:
    def build(root: Path) -> list[str]:
        tasks = task_folder(root)
        (root / "preds.jsonl").write_bytes(body)
        return ["score", str(root / "preds.jsonl"), "--task", "tiny", "--tasks-dir", str(tasks),
                "--results", str(root / "results")]  # fmt: skip

    return Case(f"predictions/{name}", build, codes, mentions)


def prediction_line(sample_id: object, prediction: object = "w0") -> bytes:
    return json.dumps({"id": sample_id, "prediction": prediction}).encode() + b"\n"


def prediction_cases() -> list[Case]:
    good = b"".join(prediction_line(f"q{i}", f"w{i}") for i in range(4))

    def directory_build(root: Path) -> list[str]:
        tasks = task_folder(root)
        (root / "preds.jsonl").mkdir()
        return ["score", str(root / "preds.jsonl"), "--task", "tiny", "--tasks-dir", str(tasks),
                "--results", str(root / "results")]  # fmt: skip

    return [
        predictions_case("not-json", b"{nope\n" * 4),
        predictions_case("empty", b"", mentions=("holds no predictions",)),
        predictions_case("only-blank-lines", b"\n  \n", mentions=("holds no predictions",)),
        predictions_case("missing-id", b'{"prediction": "a"}\n' + good),
        predictions_case("unknown-id", good + prediction_line("q999"), mentions=("q999", "look like 'q0'")),
        predictions_case("duplicate-id", good + prediction_line("q0")),
        predictions_case("prediction-number", good.replace(b'"w0"', b"5")),
        predictions_case("prediction-list", good.replace(b'"w0"', b'["w0"]')),
        predictions_case("non-utf8", good + b'{"id": "q9", "prediction": "caf\xe9"}\n'),
        predictions_case("nested", b"[" * 20_000 + b"\n" + good),
        predictions_case("array-line", b"[1, 2]\n" + good),
        predictions_case("lone-surrogate", good.replace(b'"w1"', b'"\\ud800"'), (0,), ()),
        predictions_case("bom", b"\xef\xbb\xbf" + good, (0,), ()),
        predictions_case("torn-last-line", good + b'{"id": "q', (0, 2), ()),
        predictions_case("missing-ids-wrong", good.split(b"\n", 1)[1], (0,), ()),
        Case("predictions/a-directory", directory_build, (2,), ("preds.jsonl",)),
    ]


# ---------------------------------------------------------------------------------- results and baselines


def finished_run(root: Path) -> Path:
    """A real finished run of task tiny (fake model) under root/results; returns its folder."""
    from typer.testing import CliRunner

    from monkeyeval.cli.app import build_app

    result = CliRunner().invoke(build_app(), run_argv(root, task_folder(root)), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root / "results" / "fake" / "tiny"


def results_case(name: str, damage: Callable[[Path], None], problems: int = 1) -> Case:
    def build(root: Path) -> list[str]:
        damage(finished_run(root))
        return ["report", str(root / "results"), "--format", "md"]

    return Case(f"results/{name}", build, (0,), problems=problems)


def baseline_case(
    name: str, damage: Callable[[dict], object], codes=(2,), mentions=("baseline.json",)
) -> Case:
    def build(root: Path) -> list[str]:
        finished_run(root)
        from typer.testing import CliRunner

        from monkeyeval.cli.app import build_app

        baseline = root / "baseline.json"
        args = ["gate", str(root / "results"), "--write-baseline", str(baseline)]
        assert CliRunner().invoke(build_app(), args, catch_exceptions=False).exit_code == 0
        document = json.loads(baseline.read_text(encoding="utf-8"))
        changed = damage(document)
        text = changed if isinstance(changed, bytes) else json.dumps(document).encode()
        baseline.write_bytes(text)
        return ["gate", str(root / "results"), "--baseline", str(baseline), "--mode", "paired"]

    return Case(f"baseline/{name}", build, codes, mentions)


def results_cases(rng: random.Random) -> list[Case]:
    def scores_bytes(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
        def damage(run_dir: Path) -> None:
            path = run_dir / "scores.json"
            path.write_bytes(change(path.read_bytes()))

        return damage

    def scores_key(key: str, value: object) -> Callable[[Path], None]:
        def damage(run_dir: Path) -> None:
            path = run_dir / "scores.json"
            data = json.loads(path.read_text(encoding="utf-8"))
            data[key] = value
            path.write_text(json.dumps(data), encoding="utf-8")

        return damage

    def predictions_bytes(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
        def damage(run_dir: Path) -> None:
            path = run_dir / "predictions.jsonl"
            path.write_bytes(change(path.read_bytes()))

        return damage

    cases = [
        results_case(f"scores-truncated-{i}", scores_bytes(lambda d, r=rng.random(): d[: int(len(d) * r)]))
        for i in range(6)
    ]
    cases += [
        results_case("scores-empty", scores_bytes(lambda d: b"")),
        results_case("scores-binary", scores_bytes(lambda d: os.urandom(300))),
        results_case("scores-nested", scores_bytes(lambda d: b"[" * 20_000)),
        results_case("scores-list", scores_bytes(lambda d: b"[]")),
        results_case("scores-schema-9", scores_key("schema", 9)),
        results_case("scores-nan", scores_bytes(lambda d: d.replace(b'"score": 0.5', b'"score": NaN', 1))),
        results_case("scores-negative-n", scores_key("n", -4)),
        results_case("scores-model-empty", scores_key("model", "")),
        results_case("scores-metrics-missing", scores_key("metrics", {})),
        results_case("scores-is-a-directory", lambda run_dir: _replace_by_dir(run_dir / "scores.json"), 0),
        results_case(
            "predictions-lost-last-row", predictions_bytes(lambda d: d[: d.rindex(b"\n", 0, -1) + 1])
        ),
        results_case("predictions-missing", lambda run_dir: (run_dir / "predictions.jsonl").unlink()),
        results_case("predictions-edited", predictions_bytes(lambda d: d.replace(b"w0", b"W0", 1))),
    ]
    cases += [
        baseline_case("not-json", lambda doc: b"{"),
        baseline_case("nested", lambda doc: b"[" * 20_000),
        baseline_case("empty", lambda doc: b""),
        baseline_case("wrong-format", lambda doc: doc.update(format="other")),
        baseline_case("entries-scalar", lambda doc: doc.update(entries=5)),
        baseline_case("entry-score-text", lambda doc: doc["entries"][0].update(score="high")),
        baseline_case("entry-n-negative", lambda doc: doc["entries"][0].update(n=-1)),
        baseline_case("entry-fingerprint-missing", lambda doc: doc["entries"][0].pop("fingerprint")),
        baseline_case("entry-samples-list", lambda doc: doc["entries"][0].update(sample_scores=[1, 0])),
        baseline_case("entry-skipped-text", lambda doc: doc["entries"][0].update(n_skipped_lines="x")),
        baseline_case(
            "other-dataset",
            lambda doc: doc["entries"][0]["fingerprint"].update(jsonl_sha256="0" * 64),
            (2,),
            (),
        ),
        baseline_case("unknown-model", lambda doc: doc["entries"][0].update(model="ghost"), (1,), ("ghost",)),
    ]
    return cases


def _replace_by_dir(path: Path) -> None:
    path.unlink()
    path.mkdir()


def all_cases() -> list[Case]:
    """Every case of the corpus, built from one seeded generator."""
    rng = random.Random(SEED)
    return [
        *yaml_cases(rng),
        *dataset_cases(),
        *image_cases(rng),
        *checkpoint_cases(rng),
        *prediction_cases(),
        *results_cases(rng),
    ]
