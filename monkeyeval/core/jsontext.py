"""Parsing JSON from files a user hands us: nesting too deep for the parser is a decode error, not a crash.

`json.loads` raises RecursionError on input such as 20,000 nested brackets; every reader of user files calls
`loads` here instead, so such a file gets the same "invalid JSON" message (naming the file and line) as any
other malformed one.
"""

from __future__ import annotations

import json
from typing import Any

JSON_WHITESPACE = " \t\n\r"  # what `json.loads` skips around a document (str.strip() would skip more)
_SCAN_VALUE = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # what json.loads ends in


def loads(text: str | bytes) -> Any:
    """`json.loads`, except that input nested too deeply raises `json.JSONDecodeError` at position 0.

    A `str` document goes straight to the scanner `json.loads` uses (the same value, without its Python
    layers, which cost as much as the parse on a short jsonl line); anything the scanner does not take
    whole is handed to `json.loads`, so errors and their messages are `json.loads`' own.
    """
    if isinstance(text, str):
        body = text.strip(JSON_WHITESPACE)
        try:
            value, end = _SCAN_VALUE(body, 0)
        except (StopIteration, ValueError, RecursionError):
            pass  # not a document: json.loads below says why
        else:
            if end == len(body):
                return value
    try:
        return json.loads(text)
    except RecursionError:
        document = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
        raise json.JSONDecodeError("nested too deeply", document[:100], 0) from None
