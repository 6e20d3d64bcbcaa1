"""MLflow tracking: store setup, run lifecycle, config identity and run artifacts.

- :mod:`~rlmdj.tracking.store`, :mod:`~rlmdj.tracking.health`, :mod:`~rlmdj.tracking.scrubbing`:
  opening a store, checking it answers, and a client that never writes a secret.
- :mod:`~rlmdj.tracking.run`: one run's lifecycle; :mod:`~rlmdj.tracking.record.set_record`: what a set
  leaves in it; :mod:`~rlmdj.tracking.identity`: its config hash and params view.
- :mod:`~rlmdj.tracking.writer`: a set's run recorded by a writer process from a journal, so no
  stage waits on MLflow; ``rlmdj-upload`` for a record a failed store left behind.
- :mod:`~rlmdj.tracking.params`, :mod:`~rlmdj.tracking.record.naming`, :mod:`~rlmdj.tracking.versions`,
  :mod:`~rlmdj.tracking.datasets`: params and tags, names and descriptions, code versions, inputs.
- :mod:`~rlmdj.tracking.record.audio`, :mod:`~rlmdj.tracking.record.run_card`,
  :mod:`~rlmdj.tracking.record.timeline`, :mod:`~rlmdj.tracking.traces`, :mod:`~rlmdj.tracking.prompts`:
  the set's audio, the run card, the arrangement picture, the RLM trace, the prompt registry.
- :mod:`~rlmdj.tracking.heap`: importing large libraries without paying the garbage collector.

Re-exported here: what a job needs to open a store and a run, and a config's identity.
"""

from rlmdj.tracking.identity import config_hash, flatten_config, git_commit, scrubbed_config
from rlmdj.tracking.run import NullRun, TrackedRun
from rlmdj.tracking.store import open_store, ui_command

__all__ = [
    "NullRun",
    "TrackedRun",
    "config_hash",
    "flatten_config",
    "git_commit",
    "open_store",
    "scrubbed_config",
    "ui_command",
]
