"""The tools: validate, split, stats, build, and the `kdataset` command (no backend)."""
