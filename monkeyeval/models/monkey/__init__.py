"""Native Monkey / Monkey-Chat / TextMonkey: QWen tokenizer and LM, vision towers, generation, adapters."""
