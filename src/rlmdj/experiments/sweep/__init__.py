"""What a Hydra multirun needs beyond its jobs.

- :mod:`~rlmdj.experiments.sweep.checks`: every sweeper, launcher and job setting, checked before
  the parent run opens.
- :mod:`~rlmdj.experiments.sweep.callback`: the parent run, its analysis and its end.
- :mod:`~rlmdj.experiments.sweep.context`: which parent and condition a job belongs to; resume.
- :mod:`~rlmdj.experiments.sweep.interrupts`: Ctrl-C / SIGTERM held while audio is written.
- :mod:`~rlmdj.experiments.sweep.sequential`, :mod:`~rlmdj.experiments.sweep.sequential_record`:
  the sequential sweeper's rounds and its record on the parent run.
- :mod:`~rlmdj.experiments.sweep.search`, :mod:`~rlmdj.experiments.sweep.search_record`: the
  search sweeper's settings, space and jobs, and its record.
- :mod:`~rlmdj.experiments.sweep.worker`: what the sweep's processes do once rather than per job
  (job configs composed once per group choices; joblib's workers started early).
- :mod:`~rlmdj.experiments.sweep.budget`, :mod:`~rlmdj.experiments.sweep.forecast`: a sweep's
  spending cap, and what its LLM sets are expected to cost.
"""
