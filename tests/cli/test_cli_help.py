"""`--help` reads as lm-eval users expect: `-h` works, flags are flags, values have argparse-style names."""

from __future__ import annotations

import re

import pytest

from monkeyeval.cli.app import build_command


def help_text(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as stop:
        build_command().main([*args, "-h"], prog_name="monkeyeval")
    assert stop.value.code == 0
    return capsys.readouterr().out


COMMANDS = sorted(build_command().commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_shows_flags_as_flags_and_values_by_name(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = help_text(capsys, monkeypatch, command)
    assert f"Usage: monkeyeval {command}" in text
    assert "<bool>" not in text and "<int" not in text and "<str>" not in text and "<list" not in text
    group = build_command()
    for param in group.commands[command].params:
        long_names = [opt for opt in getattr(param, "opts", []) if opt.startswith("--")]
        if not long_names or param.name == "help":
            continue
        options = text[text.index("\nOptions:") :].splitlines()
        line = next(
            line for line in options if line.lstrip().startswith(("-", *long_names)) and long_names[0] in line
        )
        if getattr(param, "is_flag", False):
            # a flag: its name, then its help text; never a value placeholder
            assert re.search(re.escape(long_names[0]) + r"(,|\s{2,}|$)", line), line
        else:
            assert re.search(re.escape(long_names[0]) + r" [A-Z][A-Z_]*\b", line), line


def test_help_lines_fit_80_columns_and_split_no_word(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = help_text(capsys, monkeypatch, "run")
    assert max(len(line) for line in text.splitlines()) <= 80
    # the example commands are kept whole on their lines
    assert "  monkeyeval run --task monkey_paper --ckpt echo840/Monkey --nproc 4" in text
    assert "--dry-run " in text and "--keep-errors " in text


def test_a_flag_takes_no_value(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as stop:
        build_command().main(["run", "--task", "demo", "--ckpt", "demo", "--dry-run", "true"], "monkeyeval")
    assert stop.value.code == 2
    assert "true" in capsys.readouterr().err
