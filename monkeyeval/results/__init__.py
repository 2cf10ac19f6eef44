"""Results on disk: the results/<model>/<task>/ layout, the scores.json schema, finalising, loading runs."""
