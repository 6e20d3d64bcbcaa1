"""Scoring: the Scorer interface, scorer backends, OBJ and signal metrics.

- :mod:`~rlmdj.scoring.base`: the ``Scorer`` protocol and ``ScoreResult``.
- :mod:`~rlmdj.scoring.factory`: ``SCORERS`` (builders and their checks) and ``build_scorer``.
- :mod:`~rlmdj.scoring.proxy` (with :mod:`~rlmdj.scoring.features`), :mod:`~rlmdj.scoring.audiobox`
  (with :mod:`~rlmdj.scoring.resample`), :mod:`~rlmdj.scoring.client`: the backends;
  :mod:`~rlmdj.scoring.cache`: the score cache around any of them.
- :mod:`~rlmdj.scoring.serving.server`, :mod:`~rlmdj.scoring.serving.service`, :mod:`~rlmdj.scoring.serving.uploads`: the
  scoring API over HTTP, its functions, and the limits on what is uploaded.
- :mod:`~rlmdj.scoring.signal`: signal metrics of a rendered set.

Nothing is re-exported here: the scorer server's image (the Modal app) imports
:mod:`~rlmdj.scoring.serving.server` without OmegaConf, which the factory needs.
"""
