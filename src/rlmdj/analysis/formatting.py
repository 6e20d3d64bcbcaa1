"""Numbers as the reports show them: one formatter, so a difference or a p-value reads the same
in the comparison's tables, its verdict sentences, the gap test and the ears test."""

from __future__ import annotations

import math

__all__ = ["number", "p_value"]


def number(x: float | None, digits: int = 3, *, signed: bool = False, style: str = "f",
           minus: str = "-") -> str:
    """``x`` to ``digits`` decimals (``style="g"``: significant digits), ``+`` on positives when
    ``signed``; ``–`` when there is no number (None, NaN), ``inf``/``-inf`` for infinities.
    ``minus`` is the minus sign written (``−`` in sentences)."""
    if x is None or math.isnan(x):
        return "–"
    sign = "+" if signed else ""
    text = f"{sign}inf" if x == math.inf else "-inf" if x == -math.inf else f"{x:{sign}.{digits}{style}}"
    return text.replace("-", minus)


def p_value(x: float, *, relation: bool = False) -> str:
    """A p-value to three decimals, ``<0.001`` below that, ``–`` when there is none.
    ``relation`` writes it as it follows "p" in a sentence: ``= 0.004``, ``< 0.001``."""
    if not math.isfinite(x):
        return "–"
    if x < 0.001:
        return "< 0.001" if relation else "<0.001"
    return f"= {number(x)}" if relation else number(x)
