"""Task YAML -> samples: task configs, the YAML loader, the registry, dataset readers and prompt profiles."""
