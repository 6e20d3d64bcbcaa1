"""Plain-language verdicts for a comparison: one sentence per primary contrast, and parent metrics.

A verdict reads like "random vs reference: −0.76 OBJ [−1.10, −0.42], paired over 4 replicas,
Holm p = 0.006: lower, distinguishable from noise", or, when nothing is found, says how many
replicas the observed spread would need to resolve ``delta``. The same numbers are logged on the
parent run as ``compare/<condition>/delta_OBJ``, ``ci_low``, ``ci_high``, ``p_holm`` and ``n`` so
parents can be sorted and charted in the MLflow UI.
"""

from __future__ import annotations

import math
import re

from rlmdj.analysis.compare import Comparison, Contrast
from rlmdj.analysis.formatting import number, p_value

__all__ = ["short_name", "metric_name", "verdict", "verdicts", "verdict_metrics"]


def short_name(c: Comparison, label: str) -> str:
    """``random`` for ``dj=random`` when one key defines the conditions, else the full label."""
    g = c.group(label)
    return next(iter(g.condition.values())) if len(g.condition) == 1 else label


def metric_name(text: str) -> str:
    """``text`` with characters MLflow refuses in metric names replaced by ``_``, at most 200
    characters (MLflow allows 250 for the whole key)."""
    return re.sub(r"[^\w.\- :]", "_", text.replace(",", " ")).strip()[:200] or "all"


def verdict(c: Comparison, t: Contrast) -> str:
    """One sentence for contrast ``t`` of comparison ``c``; it says how many runs of either side a
    set budget stopped (their last bars hold the mix, and their scores hear it)."""
    hits = [f"{short_name(c, lab)} {c.budget_hits[lab]} of {len(c.group(lab).run_ids)}"
            for lab in dict.fromkeys((t.label, c.baseline)) if c.budget_hits.get(lab)]
    return _finding(c, t) + (f" (runs stopped at a set budget: {', '.join(hits)})" if hits else "")


def _finding(c: Comparison, t: Contrast) -> str:
    name, base = short_name(c, t.label), short_name(c, c.baseline)
    axis = t.metric.split("/", 1)[-1]
    design = (f"paired over {t.n_a} replicas" if t.design == "paired" and c.unit == "replica"
              else f"paired over {t.n_a} palettes" if t.design == "paired"
              else f"unpaired, {t.n_a} vs {t.n_b} runs")
    head = (f"{name} vs {base}: {number(t.diff, 2, signed=True, minus='−')} {axis} "
            f"[{number(t.ci_low, 2, minus='−')}, {number(t.ci_high, 2, minus='−')}], {design}, "
            f"Holm p {p_value(t.p_adj, relation=True)}")
    if t.significant:
        return f"{head}: {'higher' if t.diff > 0 else 'lower'}, distinguishable from noise"
    if t.n_a < 2 or t.n_b < 2:
        return f"{head}: too few replicas to tell"
    if t.n_needed > 0:
        per = "replicas per condition" if t.design == "paired" else "replicas per group"
        return (f"{head}: no difference detected; with the SD observed, {t.n_needed} {per} would "
                f"detect {c.delta:g} {axis} at {c.power:.0%} power")
    return f"{head}: no difference detected"


def verdicts(c: Comparison) -> list[str]:
    """A verdict for every primary contrast, in condition order."""
    return [verdict(c, t) for t in c.primary_tests()]


def verdict_metrics(c: Comparison) -> dict[str, float]:
    """``compare/<condition>/{delta_OBJ,ci_low,ci_high,p_holm,n}`` for every primary contrast, and
    ``compare/<condition>/budget_hits`` for every condition whose runs a set budget stopped."""
    out: dict[str, float] = {}
    for t in c.primary_tests():
        prefix = f"compare/{metric_name(short_name(c, t.label))}"
        values = {f"delta_{c.axis}": t.diff, "ci_low": t.ci_low, "ci_high": t.ci_high,
                  "p_holm": t.p_adj, "n": float(t.n)}
        out.update({f"{prefix}/{k}": float(v) for k, v in values.items() if math.isfinite(v)})
    for label, hits in c.budget_hits.items():
        out[f"compare/{metric_name(short_name(c, label))}/budget_hits"] = float(hits)
    return out
