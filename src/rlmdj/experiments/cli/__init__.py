"""What the ``rlmdj`` command does around every job: checks, progress, masking, summaries.

- :mod:`~rlmdj.experiments.cli.preflight` (and :mod:`~rlmdj.experiments.cli.preflight_callback`,
  its Hydra callback): the checks of the job and the entries a config selects, before a run, an
  LLM call or a bar.
- :mod:`~rlmdj.experiments.cli.progress`: live bars on a terminal, plain lines elsewhere.
- :mod:`~rlmdj.experiments.cli.scrub_callback`: secrets kept out of the files Hydra writes.
- :mod:`~rlmdj.experiments.cli.summary`: the end-of-run summary.
"""
