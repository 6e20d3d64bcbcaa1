"""rlmdj's Hydra sweeper plugin: ``hydra/sweeper=search`` (Optuna search under noise)."""
