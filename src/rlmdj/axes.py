"""The score axes: what every scorer reports and every report shows, named once.

audiobox-aesthetics scores a set on four axes (content enjoyment, content usefulness,
production complexity, production quality); OBJ is their weighted sum (the weights are
``scorer.weights`` in the config schema). The DJ's ears, the scorers, the run pipeline, the
analyses and the command line all read these names, so they live here, beside
:mod:`rlmdj.errors`, importing nothing: every layer may import it.
"""

from __future__ import annotations

__all__ = ["AXES", "OBJ", "OBJ_AND_AXES"]

AXES: tuple[str, ...] = ("CE", "CU", "PC", "PQ")
"""The axes a scorer reports, in the order reports list them."""

OBJ = "OBJ"
"""The objective: the weighted sum of :data:`AXES` (``scorer.weights``)."""

OBJ_AND_AXES: tuple[str, ...] = (OBJ, *AXES)
"""Every score a run carries (``<scorer>/OBJ``, ``<scorer>/CE``, ...), the objective first."""
