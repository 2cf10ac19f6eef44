"""The `monkeyeval` command line: the typer app and one module per command (parse, call, print).

Errors become exit codes in one place (`errors.py`). Command bodies import the packages they call inside the
function, so `monkeyeval --help` and light commands (`tasks`, `metrics`, `score`) never import torch.
"""
