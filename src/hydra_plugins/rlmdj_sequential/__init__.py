"""rlmdj's Hydra sweeper plugin: ``hydra/sweeper=sequential`` (sequential replicas)."""
