"""Parsing JSON from files a user hands us: nesting too deep for the parser is a decode error, not a crash.

`json.loads` raises RecursionError on input such as 20,000 nested brackets; every reader of user files calls
`loads` here instead, so such a file gets the same "invalid JSON" message (naming the file and line) as any
other malformed one.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    """`json.loads`, except that input nested too deeply raises `json.JSONDecodeError` at position 0."""
    try:
        return json.loads(text)
    except RecursionError:
        document = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
        raise json.JSONDecodeError("nested too deeply", document[:100], 0) from None
