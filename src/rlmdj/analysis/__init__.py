"""Statistics and reports over runs in the store.

- :mod:`~rlmdj.analysis.records`: runs loaded from MLflow as records (conditions, replicas, scorers).
- :mod:`~rlmdj.analysis.compare`: conditions against a baseline, paired by replica where the design allows;
  :class:`~rlmdj.analysis.compare.Contrast` is every analysis's contrast.
- :mod:`~rlmdj.analysis.conditions`: the design read from the runs (conditions, scorer, baseline, unit).
- :mod:`~rlmdj.analysis.from_store`: a comparison of stored runs, logged to a run.
- :mod:`~rlmdj.analysis.stats`, :mod:`~rlmdj.analysis.sequential`: fixed-n tests and confidence sequences.
- :mod:`~rlmdj.analysis.report`, :mod:`~rlmdj.analysis.verdict`, :mod:`~rlmdj.analysis.listen`,
  :mod:`~rlmdj.analysis.plots`: tables, verdict sentences, the listening room, plots;
  :mod:`~rlmdj.analysis.formatting`: how every report writes a number.
- :mod:`rlmdj.analysis.studies`: analyses of particular experiments (gap, ears, reproduction).
"""
