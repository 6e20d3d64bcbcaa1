"""Prompt optimisation (``experiment=optimize_prompt``): GEPA rewrites the RLM DJ's instructions.

- :mod:`~rlmdj.optimize.study`: the study, GEPA over the DJ prompt, recorded in MLflow;
  :mod:`~rlmdj.optimize.program`: GEPA's view of the DJ (a candidate, an example, an evaluation).
- :mod:`~rlmdj.optimize.briefs`: what a candidate is played on, drawn into train, validation and
  held-out sets; :mod:`~rlmdj.optimize.rollout`: one evaluation, a brief's replica played as a
  child run; :mod:`~rlmdj.optimize.budget`: the study's budgets.
- :mod:`~rlmdj.optimize.pairs`: paired scores of two prompts on the same briefs and seeds;
  :mod:`~rlmdj.optimize.acceptance`: the paired anytime-valid test a child must pass to join the
  pool; :mod:`~rlmdj.optimize.selection`: the final prompt by its validation lower bound;
  :mod:`~rlmdj.optimize.confirmation`: the held-out comparison with the starting prompt.
- :mod:`~rlmdj.optimize.lineage`: every candidate's registry version, table row and plot point;
  :mod:`~rlmdj.optimize.report`: the study's end, what the parent run and the terminal are told.
"""

from rlmdj.optimize.acceptance import Decision, PairedAcceptance
from rlmdj.optimize.confirmation import Confirmation, confirm
from rlmdj.optimize.pairs import FailedRollout, PairedScores, Score
from rlmdj.optimize.selection import Bounds, Selection, select_candidate

__all__ = ["Bounds", "Confirmation", "Decision", "FailedRollout", "PairedAcceptance", "PairedScores",
           "Score", "Selection", "confirm", "select_candidate"]
