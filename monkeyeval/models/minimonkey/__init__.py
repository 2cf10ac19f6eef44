"""Native Mini-Monkey (InternVL2-2B architecture with multi-scale adaptive cropping), no remote code.

Modules: `msac` (tile budgets and cropping), `tokenizer` (InternLM2 SentencePiece tokenizer), `template`
(internlm2-chat prompt assembly), plus the model, generation and adapter modules.
"""
