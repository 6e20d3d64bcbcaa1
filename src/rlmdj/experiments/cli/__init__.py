"""What the ``rlmdj`` command does around every job: checks, progress, masking, summaries.

- :mod:`~rlmdj.experiments.cli.preflight` (and its Hydra callback): every setting checked before
  a run, an LLM call or a bar.
- :mod:`~rlmdj.experiments.cli.progress`: live bars on a terminal, plain lines elsewhere.
- :mod:`~rlmdj.experiments.cli.scrub_callback`: secrets kept out of the files Hydra writes.
- :mod:`~rlmdj.experiments.cli.summary`: the end-of-run summary.
"""
