"""Model adapters: the one seam every model goes through (see `base.ModelAdapter`)."""
