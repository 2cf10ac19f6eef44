"""The errors monkeyeval raises on purpose. Anything else that escapes a command is a bug (it prints its
traceback); these print one paragraph and exit with the code `monkeyeval.cli.errors` gives their kind.

- `UserError`: something the user can fix before or while running (a bad flag, task YAML, dataset line,
  image root, checkpoint, option, profile or dtype); the message names the file and key or line and what
  to do. Exit 2.
- `IncompleteResults`: a run that finished but could not be scored (samples missing, shards pending). Exit 1.
- `RunFailure`: a failure at run time that is not the input's fault (a rank died, an I/O error). Exit 3.

Subclasses may also derive from a built-in exception (`ValueError`, `KeyError`, ...) where callers catch that.
"""

from __future__ import annotations


class MonkeyevalError(Exception):
    """Base of every error monkeyeval raises on purpose."""


class UserError(MonkeyevalError):
    """Bad input the user can fix; the message says where and how."""


class IncompleteResults(MonkeyevalError):
    """A run that finished without everything needed to score it."""


class RunFailure(MonkeyevalError):
    """A run-time failure that is not the input's fault; re-running resumes."""


class BadValue(UserError, ValueError):
    """A flag, setting or environment value that is out of range (also a ValueError for callers)."""
