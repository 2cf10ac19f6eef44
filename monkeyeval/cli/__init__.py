"""The `monkeyeval` command line: the typer app and one module per command (parse, call, print)."""
