"""`jsontext.loads` gives `json.loads` value or error for every document; deep nesting is a decode error."""

from __future__ import annotations

import json

import pytest

from monkeyeval.core import jsontext

DOCUMENTS = [
    '{"a": 1}',
    ' {"a": [1, 2.5, {"b": null}]} \r\n',
    "12345678901234567890123",  # a big int stays an int
    "1e400",
    "NaN",
    "-Infinity",
    '"\\ud800"',
    "true",
    '"tab\\there"',
    # not documents: json.loads' own errors
    "",
    " \n",
    '{"a": 1} x',
    "1 2",
    "[1, 2",
    '"open',
    '{"a": 1,}',
    "01",
    "-",
    "1.",
    "nul",
    '"\t"',
    "\ufeff{}",  # a byte-order mark inside a str is an error, as in json.loads
    '{"a": 1}\x0c',  # form feed is not JSON whitespace (str.strip would remove it)
    "\x0b1",
]


def outcome(parse, text):
    try:
        return "value", repr(parse(text))
    except json.JSONDecodeError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_loads_matches_json_loads(text):
    assert outcome(jsontext.loads, text) == outcome(json.loads, text)
    assert outcome(jsontext.loads, text.encode()) == outcome(json.loads, text.encode())


@pytest.mark.parametrize("text", ["[" * 30_000, "[" * 30_000 + "]" * 30_000])
def test_deep_nesting_is_a_decode_error(text):
    with pytest.raises(json.JSONDecodeError, match="nested too deeply"):
        jsontext.loads(text)
