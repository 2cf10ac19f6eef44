"""Converters from other harnesses' dataset files into monkeyeval task data (jsonl + image folder)."""
