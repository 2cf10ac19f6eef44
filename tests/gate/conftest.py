"""Gate test fixtures: the results-tree builders of tests/report/conftest.py, loaded by path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_FACTORY_PATH = Path(__file__).resolve().parent.parent / "report" / "conftest.py"
_spec = importlib.util.spec_from_file_location("monkeyeval_tests_results_factory", _FACTORY_PATH)
assert _spec is not None and _spec.loader is not None
_factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_factory)

results_root = _factory.results_root
make_run = _factory.make_run
run_writer = _factory.run_writer
