"""Metric registry: named, versioned metric variants (implementations live in the top-level `metrics/`)."""
