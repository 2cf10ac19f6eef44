"""monkeyeval: the evaluation harness for the Monkey family of vision-language models.

Python API (loaded on first use, so `import monkeyeval` stays light): `evaluate`, `load_results`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from monkeyeval.api import Evaluation, Results, TaskResult, UnscoredTask, evaluate, load_results

__all__ = [
    "Evaluation",
    "Results",
    "TaskResult",
    "UnscoredTask",
    "__version__",
    "evaluate",
    "load_results",
]
_API_NAMES = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    """The API names, imported from `monkeyeval.api` on first access."""
    if name in _API_NAMES:
        from monkeyeval import api

        return getattr(api, name)
    raise AttributeError(f"module 'monkeyeval' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
