"""Hydra jobs: what ``rlmdj experiment=<name>`` runs (a single set by default), assembled from the
layers below.

- :mod:`~rlmdj.experiments.registry`: ``JOBS`` and ``ANALYSES``, the names ``experiment.name`` and
  ``experiment.analysis`` choose from.
- :mod:`~rlmdj.experiments.options`: every registered driver, scorer and job as a config group option.
- :mod:`~rlmdj.experiments.assemble`: sample index, palette, session, scorer and driver from the config;
  :mod:`~rlmdj.experiments.outcome`: what one run produced.
- :mod:`rlmdj.experiments.jobs`: one module per job.
- :mod:`rlmdj.experiments.sweep`: parent runs, job context, resume, the sequential sweeper's state.
- :mod:`rlmdj.experiments.cli`: preflight checks, progress, masking of Hydra's files, summaries.
"""
