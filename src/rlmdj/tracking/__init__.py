"""MLflow tracking: store setup, run lifecycle, config identity and run artifacts."""

from rlmdj.tracking.identity import config_hash, flatten_config, git_commit, scrubbed_config
from rlmdj.tracking.run import NullRun, TrackedRun
from rlmdj.tracking.store import open_store, ui_command

__all__ = ["NullRun", "TrackedRun", "config_hash", "flatten_config", "git_commit", "scrubbed_config", "open_store", "ui_command"]
