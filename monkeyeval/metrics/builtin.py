"""The built-in metric plugins as the package `monkeyeval.metrics.builtin`.

Its `__path__` is the plugin folder (`builtin_dir("metrics")`: the top-level `metrics/` of a checkout, or
`monkeyeval/_builtin/metrics` in a wheel), so the ordinary import system finds the plugins under this name:
`from monkeyeval.metrics.builtin.anls import anls_docvqa`, and a plugin imports a sibling relatively
(`from ._vqa_tables import ...`). Nothing is added to `sys.path` or `sys.modules` by hand.
"""

from __future__ import annotations

from monkeyeval.core.paths import builtin_dir

__path__ = [str(builtin_dir("metrics"))]
