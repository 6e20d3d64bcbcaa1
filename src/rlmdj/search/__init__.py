"""Optimising settings under noise with Optuna; nothing here knows Hydra or a job.

- :mod:`~rlmdj.search.study`: the Optuna side every search shares: where studies are stored
  (a journal file beside the MLflow store by default), the sampler by name, a study's summary
  and its plots (optimisation history, parameter importances).
- :mod:`~rlmdj.search.space`: a search space as plain specs (choice, interval, range, log),
  checked, turned into Optuna distributions.
- :mod:`~rlmdj.search.loop`: ask a batch of trials, evaluate each on the same replicas, tell the
  mean; then confirm the winner against the baseline on fresh replicas (paired, sequential).
- :mod:`~rlmdj.search.palettes`: the palette search: one choice per role, trials as palettes.

The Hydra sweeper (``hydra/sweeper=search``) and the palette search job drive these.
"""
