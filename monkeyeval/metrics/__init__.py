"""Metrics: the contract and the machinery; the metrics themselves are plugins.

Each built-in metric lives in ONE file of the top-level `metrics/` folder (shipped in the wheel as
`monkeyeval/_builtin/metrics`): its implementation and the `METRICS: list[Metric]` that registers it.
That folder is importable as the package `monkeyeval.metrics.builtin` (e.g.
`from monkeyeval.metrics.builtin.anls import anls_docvqa`); files starting with "_" are helpers the plugins
import. This package holds only what the plugins share:

- `base`: the `Metric` contract and `MissingDependencyError`;
- `registry`: discovery of the built-in plugins and the `monkeyeval.metrics` entry points, name lookup;
- `builtin`: the package whose `__path__` is the plugin folder;
- `checks`, `levenshtein`: input checks and the edit distance the plugins use;
- `stats`: bootstrap confidence intervals and the paired bootstrap of the gate.

Adding a metric is one new file in `metrics/` (see `metrics/README.md`).
"""
