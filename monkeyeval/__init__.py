"""monkeyeval: the evaluation harness for the Monkey family of vision-language models."""

__version__ = "0.1.0"
