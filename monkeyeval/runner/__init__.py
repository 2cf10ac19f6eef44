"""The runner: turns (tasks, checkpoint) into predictions and scores, sharded, batched and crash-safe.

Modules: `sharding` (which samples a rank gets), `distributed` (torchrun environment, devices, relaunch),
`data` (work items, preprocessing, the worker-to-rank transport), `workers` (DataLoader workers kept
from loop to loop), `engine` (the batched generation loop), `parts` (per-rank part
files and the run manifest), `resume` (what is already done, fingerprint checks), `merge` (parts ->
predictions.jsonl + scores.json), `progress` (progress bar / log lines), `invariance` (batch-size check),
`session` (one `monkeyeval run` invocation end to end).
"""
