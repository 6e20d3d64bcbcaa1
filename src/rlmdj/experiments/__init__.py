"""Hydra jobs: what `rlmdj experiment=<name>` runs (a single set by default)."""
