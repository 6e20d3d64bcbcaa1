"""rlmdj's Hydra launcher for Ray (``hydra/launcher=ray``): sweep jobs run as Ray tasks."""
