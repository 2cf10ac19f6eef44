"""bf16-vs-fp32 answer agreement of the real adapters on the parity fixtures (a section of gpu_suite.py).

Every case of a family's fixture runs through the adapter exactly as the runner drives it: `load` with
`LoadOptions(checkpoint, device, dtype)`, `configure_task` (Mini-Monkey: the case's tile profile and SCM
flag), `preprocessor()` on the case's PNG and prompt, then `generate` at batch 1 with the fixture's
max_new_tokens. float32 runs with TF32 off (`torch.backends.cuda.matmul.allow_tf32` and
`torch.backends.cudnn.allow_tf32` False), so it is the reference the bf16 answers are compared with.
The fixtures are read from `--parity-dir`, else from the repository's packed copy, unpacked once by
tests/parity_fixtures.py (which honours $MONKEYEVAL_PARITY_FIXTURES).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from monkeyeval.core.errors import UserError
from monkeyeval.core.types import Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelAdapter, ModelInput
from monkeyeval.models.minimonkey.adapter import MiniMonkeyAdapter
from monkeyeval.models.monkey.adapter import MonkeyAdapter, TextMonkeyAdapter

REPO_ROOT = Path(__file__).resolve().parent.parent
ADAPTERS: dict[str, type[ModelAdapter]] = {
    "monkey": MonkeyAdapter,
    "textmonkey": TextMonkeyAdapter,
    "minimonkey": MiniMonkeyAdapter,
}


class FixtureError(UserError):
    """A parity fixture folder that is missing or incomplete."""


@dataclass(frozen=True)
class FixtureCase:
    """One fixture case as the adapter receives it, and the answer upstream recorded in float32."""

    id: str
    sample: Sample
    prompt: str
    max_new_tokens: int
    options: dict[str, Any]
    recorded: str


def parity_dir(explicit: Path | None) -> Path:
    """`explicit` (checked), else the repository's fixtures unpacked by tests/parity_fixtures.py."""
    if explicit is not None:
        if not all((explicit / family).is_dir() for family in ADAPTERS):
            raise FixtureError(
                f"--parity-dir {explicit}: expected the unpacked fixture folders {', '.join(ADAPTERS)} "
                "there; point it at the folder that holds them, or leave it out to use the repository's copy"
            )
        return explicit
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from parity_fixtures import parity_root  # the fixtures' own unpacker (packed xz -> upstream layout)

    root: Path = parity_root()
    return root


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FixtureError(f"{path}: cannot read the fixture cases ({exc})") from exc
    return [json.loads(line) for line in lines if line.strip()]


def sample_of(folder: Path, index: int, case: dict[str, Any]) -> Sample:
    return Sample(index, case["id"], case["question"], [], case["image"], folder / case["image"])


def fixture_cases(family: str, folder: Path) -> list[FixtureCase]:
    """The cases of one family's fixture, in fixture order (Monkey fixtures: by row)."""
    if family == "minimonkey":
        cases = read_jsonl(folder / "generation" / "cases.jsonl")
        return [
            FixtureCase(
                case["id"],
                sample_of(folder, i, case),
                case["final_question_text"],
                int(case["generation_config"]["max_new_tokens"]),
                {"tiles": case["profile"], "use_scm": case["use_scm"]},
                case["answer"],
            )
            for i, case in enumerate(cases)
        ]
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    max_new_tokens = int(meta["generate_kwargs"]["max_new_tokens"])
    cases = sorted(read_jsonl(folder / "cases.jsonl"), key=lambda case: int(case["row"]))
    return [
        FixtureCase(
            case["id"],
            sample_of(folder, i, case),
            case["prompt"],
            max_new_tokens,
            {},
            case["batch1"]["answer"],
        )
        for i, case in enumerate(cases)
    ]


@contextmanager
def tf32_off() -> Iterator[None]:
    """float32 matmuls and convolutions in full float32 (no TF32) inside the block."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def answers(
    family: str, folder: Path, cases: list[FixtureCase], device: torch.device, dtype: str
) -> list[str]:
    """Each case's answer text from the real adapter in `dtype`, batch 1."""
    options = LoadOptions(checkpoint=str(folder / "checkpoint"), device=str(device), dtype=dtype)
    adapter = ADAPTERS[family].load(options)
    texts = []
    for case in cases:
        adapter.configure_task(case.options)
        payload = adapter.preprocessor()(case.sample, case.prompt)
        settings = DecodeSettings(max_new_tokens=case.max_new_tokens)
        [generation] = adapter.generate([ModelInput(case.sample, case.prompt, payload)], settings)
        texts.append(generation.text)
    return texts


def fixture_agreement(family: str, explicit_dir: Path | None, device: torch.device) -> dict[str, Any]:
    """bf16 answers identical to fp32 ones over a family's fixture cases, the first divergent case, and
    how many answers equal upstream's recorded float32 answer."""
    folder = parity_dir(explicit_dir) / family
    cases = fixture_cases(family, folder)
    began = time.perf_counter()
    with tf32_off():
        reference = answers(family, folder, cases, device, "fp32")
    half = answers(family, folder, cases, device, "bf16")
    same = [a == b for a, b in zip(reference, half, strict=True)]
    first = next((i for i, equal in enumerate(same) if not equal), None)
    return {
        "cases": len(cases),
        "identical": sum(same),
        "fraction_identical": sum(same) / len(cases),
        "first_divergent": None
        if first is None
        else {"id": cases[first].id, "fp32": reference[first], "bf16": half[first]},
        "fp32_matches_fixture": sum(a == c.recorded for a, c in zip(reference, cases, strict=True)),
        "bf16_matches_fixture": sum(a == c.recorded for a, c in zip(half, cases, strict=True)),
        "seconds": round(time.perf_counter() - began, 2),
    }
