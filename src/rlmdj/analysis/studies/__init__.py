"""Analyses of particular experiments, each over runs in the store.

- :mod:`~rlmdj.analysis.studies.gap`: why the DJ scores below the reference arrangement.
- :mod:`~rlmdj.analysis.studies.ears`: what ears are worth (``experiment=ears_test``).
- :mod:`~rlmdj.analysis.studies.reproduction`: whether a rerun reproduced its originals.
"""
