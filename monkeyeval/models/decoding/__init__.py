"""What every native family shares to decode: the greedy loop, KV cache, mask rule, RMSNorm, rotate-half.

A family prefills its prompt its own way (image embeddings, position mode, SCM), then hands the first logits
and a `StepDecoder` (one forward per new token) to `greedy_decode`. Per-family differences (Monkey's raw
padded positions, the id fed to finished rows, NTK, SCM) are parameters or live in the family's decoder.
"""
