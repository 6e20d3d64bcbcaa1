"""Prompt optimisation (``experiment=optimize_prompt``): GEPA rewrites the RLM DJ's instructions.

The statistics the job relies on are public here: the paired anytime-valid acceptance test for a
child prompt, the lower-confidence-bound choice of the final prompt, and the held-out
confirmation against the starting prompt.
"""

from rlmdj.optimize.acceptance import Decision, PairedAcceptance
from rlmdj.optimize.confirmation import Confirmation, confirm
from rlmdj.optimize.pairs import FailedRollout, PairedScores, Score
from rlmdj.optimize.selection import Bounds, Selection, select_candidate

__all__ = ["Bounds", "Confirmation", "Decision", "FailedRollout", "PairedAcceptance", "PairedScores",
           "Score", "Selection", "confirm", "select_candidate"]
