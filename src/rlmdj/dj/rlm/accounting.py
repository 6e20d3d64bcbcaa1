"""Per-run accounting of the RLM DJ as ``dj/...`` metrics.

LM calls, tokens and cost per LM role (main, critic, sub), failed attempts, tool calls and
errors, calls after the end, guardrail interventions by kind, sandbox restarts, wall time per
code turn and the real-time factor (seconds of audio produced per wall-clock second), and the
set's budgets: the limits that were set, the bars held after one was reached, and the seconds
sandbox start-ups took (``dj/sandbox_start_s``, left out of the wall budget).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

__all__ = ["driver_metrics"]


def driver_metrics(
    *,
    lms: Mapping[str, Any],
    tools: Any,
    guardrails: Any,
    sandbox_restarts: int,
    wall_s: float,
    audio_s: float,
    critic: Any = None,
    budget: Any = None,
) -> dict[str, float]:
    """Flat metrics from the driver's parts (any of which may be missing after a failure)."""
    m: dict[str, float] = {}
    total_in = total_out = 0
    cost = 0.0
    cost_known = False
    for label, lm in lms.items():
        prefix = "dj/lm" if label == "main" else f"dj/{label}_lm"
        m[f"{prefix}_calls"] = float(lm.calls)
        m[f"{prefix}_failed_attempts"] = float(lm.failed_attempts)
        m[f"{prefix}_calls_after_end"] = float(lm.calls_after_end)
        m[f"{prefix}_input_tokens"] = float(lm.input_tokens)
        m[f"{prefix}_output_tokens"] = float(lm.output_tokens)
        total_in += lm.input_tokens
        total_out += lm.output_tokens
        if lm.cost_known:
            cost += lm.cost
            cost_known = True
    m["dj/input_tokens"] = float(total_in)
    m["dj/output_tokens"] = float(total_out)
    m["dj/lm_calls_after_end_all"] = float(sum(lm.calls_after_end for lm in lms.values()))
    if cost_known:
        m["dj/cost_usd"] = round(cost, 6)
    main = lms.get("main")
    if main is not None and len(main.started) >= 2:
        walls = [b - a for a, b in zip(main.started, main.started[1:], strict=False)]
        m["dj/iteration_wall_s_mean"] = statistics.fmean(walls)
        m["dj/iteration_wall_s_max"] = max(walls)
    if main is not None:
        m["dj/iterations"] = float(main.calls)
    if tools is not None:
        m["dj/tool_calls"] = float(sum(tools.calls.values()))
        m["dj/tool_errors"] = float(sum(tools.errors.values()))
        m["dj/tool_calls_after_end"] = float(tools.calls_after_end)
        for name, n in tools.calls.items():
            m[f"dj/tool/{name}"] = float(n)
    if guardrails is not None:
        m["dj/guardrail_interventions"] = float(sum(guardrails.counts.values()))
        for kind in ("gain_cap", "density", "loop_type"):
            m[f"dj/guardrail/{kind}"] = float(guardrails.counts.get(kind, 0))
    if critic is not None:
        m["dj/critic_errors"] = float(critic.errors)
    if budget is not None:
        m.update(budget.metrics())
    m["dj/sandbox_restarts"] = float(sandbox_restarts)
    m["dj/wall_s"] = round(wall_s, 3)
    m["dj/audio_s"] = round(audio_s, 3)
    if wall_s > 0:
        m["dj/realtime_factor"] = round(audio_s / wall_s, 4)
    return m
