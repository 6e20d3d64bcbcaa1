"""An RLM set as one MLflow trace, shown in the run's Traces tab.

The trace is built from what the driver recorded while it played (the LM transcript, the tool
trace, the sandbox restarts, each with wall-clock times), with MLflow's tracing client and the
recorded start and end times, so it is the same for a live set and for its replay and never
depends on which thread the sandbox called a tool from:

    rlm set  (AGENT; inputs: palette, set plan; outputs: stop reason, summary)
    ├── iteration 1  (CHAIN; outputs: reasoning, code)
    │   ├── main LM  (CHAT_MODEL; messages → response; token usage, cost, model)
    │   └── run code  (TOOL; the code; tool calls inside it)
    │       ├── add  (TOOL; arguments, result, bar)
    │       └── play  (TOOL) ── critic LM  (CHAT_MODEL, when due inside play)
    ├── iteration 2 ...
    └── sandbox restart  (UNKNOWN; the reason)

Sub-LM calls (``llm_query`` from the sandbox) sit inside the code that made them. Transcripts
hold no credentials (see :mod:`rlmdj.dj.rlm.transcript`); tool arguments and results are mixer
values. :func:`log_set_trace` returns the trace id.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rlmdj.dj.drivers.base import SandboxDriver, TranscriptDriver

__all__ = ["SetTrace", "log_set_trace", "set_trace_from_driver", "trace_summary"]

_CODE = re.compile(r"\[\[ ## code ## \]\]\s*(.*?)(?=\[\[ ## |\Z)", re.S)
_REASONING = re.compile(r"\[\[ ## reasoning ## \]\]\s*(.*?)(?=\[\[ ## |\Z)", re.S)
_FENCE = re.compile(r"^```[a-zA-Z]*\n?|\n?```\s*$")


@dataclass
class SetTrace:
    """What one RLM set recorded, in the shapes :func:`log_set_trace` reads."""

    calls: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    restarts: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None


def set_trace_from_driver(driver: Any, *, replay_of: str | None = None) -> SetTrace | None:
    """The record of a driver that keeps a transcript (:class:`TranscriptDriver`, the RLM) after
    ``perform``; ``None`` for drivers without one."""
    if not isinstance(driver, TranscriptDriver):
        return None
    transcript = driver.transcript
    restarts = list(driver.restart_log) if isinstance(driver, SandboxDriver) else []
    meta = dict(transcript.meta)
    tags = {
        "rlmdj.replay": "true" if replay_of or driver.replay is not None else "false",
        "rlmdj.prompt": str(meta.get("prompt_name", "")),
        "rlmdj.model": str(meta.get("model") or _first_model(transcript.calls)),
    }
    if replay_of or meta.get("replay_of"):
        tags["rlmdj.replay_of"] = str(replay_of or meta.get("replay_of"))
    palette = meta.get("palette") or {}
    return SetTrace(
        calls=list(transcript.calls),
        tool_calls=list(driver.tools.trace) if driver.tools is not None else [],
        restarts=restarts,
        inputs={"palette": palette.get("name") if isinstance(palette, Mapping) else palette,
                "bars": meta.get("bars"), "bpm": meta.get("bpm"), "prompt": meta.get("prompt_name")},
        outputs={"stop_reason": driver.stop_reason, "summary": driver.summary,
                 "autopilot_bars": driver.autopilot_bars},
        tags=tags,
    )


def _first_model(calls: Sequence[Mapping[str, Any]]) -> str:
    return str(calls[0].get("model", "")) if calls else ""


def _ns(t: float) -> int:
    return int(t * 1e9)


def _response_text(call: Mapping[str, Any]) -> str:
    outputs = call.get("outputs")
    if isinstance(outputs, list) and outputs:
        first = outputs[0]
        if isinstance(first, Mapping):
            return str(first.get("text", first))
        return str(first)
    return "" if outputs is None else str(outputs)


def _field(pattern: re.Pattern[str], text: str) -> str:
    m = pattern.search(text)
    return _FENCE.sub("", m.group(1).strip()).strip() if m else ""


def _usage(call: Mapping[str, Any]) -> dict[str, int]:
    usage = call.get("usage") or {}
    n_in = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
    n_out = int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
    return {"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out}


def _lm_times(call: Mapping[str, Any]) -> tuple[float, float]:
    end = float(call.get("ended_at") or 0.0)
    return end - float(call.get("wall_s") or 0.0), end


def _tool_times(rec: Mapping[str, Any]) -> tuple[float, float]:
    t1 = float(rec.get("t1") or 0.0)
    t0 = float(rec.get("t0") or t1)
    return t0, t1


class _Builder:
    """Opens and closes spans with recorded times under one root."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.count = 0

    def span(self, name: str, kind: str, parent: Any, t0: float, t1: float, *, inputs: Any = None,
             outputs: Any = None, attributes: Mapping[str, Any] | None = None, error: str | None = None) -> Any:
        import mlflow

        span = mlflow.start_span_no_context(name, span_type=kind, parent_span=parent, inputs=inputs,
                                            attributes=dict(attributes or {}), start_time_ns=_ns(t0))
        span._rlmdj_end = t1  # noqa: SLF001 - closed after its children
        span._rlmdj_outputs = outputs
        span._rlmdj_error = error
        self.count += 1
        return span

    @staticmethod
    def close(span: Any) -> None:
        from mlflow.entities import SpanStatusCode

        status = SpanStatusCode.ERROR if span._rlmdj_error else SpanStatusCode.OK
        if span._rlmdj_error:
            span.set_attribute("error", span._rlmdj_error)
        span.end(outputs=span._rlmdj_outputs, status=status, end_time_ns=_ns(span._rlmdj_end))


def _lm_span(b: _Builder, call: Mapping[str, Any], parent: Any) -> Any:
    from mlflow.entities import SpanType
    from mlflow.tracing.constant import SpanAttributeKey

    t0, t1 = _lm_times(call)
    attributes: dict[str, Any] = {
        SpanAttributeKey.CHAT_USAGE: _usage(call),
        SpanAttributeKey.MODEL: str(call.get("model", "")),
        "rlmdj.lm": str(call.get("lm", "")),
        "rlmdj.attempt": int(call.get("attempt") or 0),
        "rlmdj.options": call.get("options") or {},
    }
    cost = call.get("cost")
    if isinstance(cost, int | float):
        attributes[SpanAttributeKey.LLM_COST] = {"input_cost": 0.0, "output_cost": 0.0,
                                                 "total_cost": float(cost)}
    label = {"main": "main LM", "critic": "critic LM", "sub": "sub LM"}.get(str(call.get("lm")),
                                                                           f"{call.get('lm')} LM")
    return b.span(label, SpanType.CHAT_MODEL, parent, t0, t1,
                  inputs={"messages": call.get("messages")},
                  outputs=_response_text(call) if call.get("error") is None else None,
                  attributes=attributes, error=call.get("error"))


def _scrubbed(record: SetTrace) -> SetTrace:
    """``record`` with secrets masked (see :mod:`rlmdj.secrets`); times and numbers kept."""
    from rlmdj.secrets import scrub_value

    return replace(record, calls=scrub_value(record.calls), tool_calls=scrub_value(record.tool_calls),
                   restarts=scrub_value(record.restarts), inputs=scrub_value(record.inputs),
                   outputs=scrub_value(record.outputs), tags=scrub_value(record.tags))


def log_set_trace(record: SetTrace, *, experiment_id: str, run_id: str | None,
                  name: str = "rlm set") -> str:
    """Write ``record`` as one trace in ``experiment_id`` linked to ``run_id``; its trace id."""
    import mlflow
    from mlflow.entities import SpanType
    from mlflow.tracking import MlflowClient

    record = _scrubbed(record)  # traces are written to the store like any other text
    calls = sorted(record.calls, key=lambda c: _lm_times(c)[0])
    tools = sorted(record.tool_calls, key=lambda r: _tool_times(r)[0])
    times = ([t for c in calls for t in _lm_times(c)] + [t for r in tools for t in _tool_times(r)]
             + [float(r["t"]) for r in record.restarts])
    times = [t for t in times if t > 0]
    start = record.started_at or (min(times) if times else time.time())
    end = max([record.ended_at or 0.0, *times, start])

    client = MlflowClient()
    root = client.start_trace(name, span_type=SpanType.AGENT, inputs=record.inputs,
                              tags=record.tags, experiment_id=experiment_id, run_id=run_id,
                              start_time_ns=_ns(start))
    b = _Builder(root)
    mains = [c for c in calls if c.get("lm") == "main"]
    # Iteration k runs from the start of its main LM call (failed attempts included) to the
    # start of the next successful main call's first attempt.
    starts: list[float] = []
    group: list[dict[str, Any]] = []
    iterations: list[list[dict[str, Any]]] = []
    for c in mains:
        group.append(c)
        if c.get("error") is None:
            iterations.append(group)
            starts.append(_lm_times(group[0])[0])
            group = []
    if group:
        iterations.append(group)
        starts.append(_lm_times(group[0])[0])
    bounds = [*starts[1:], end + 1e-6]
    others = [c for c in calls if c.get("lm") != "main"]
    placed_tools: set[int] = set()
    placed_calls: set[int] = set()
    for k, (attempts, t_start, t_next) in enumerate(zip(iterations, starts, bounds, strict=True), 1):
        response = _response_text(attempts[-1]) if attempts[-1].get("error") is None else ""
        code = _field(_CODE, response)
        in_iter = [r for r in tools if t_start <= _tool_times(r)[0] < t_next]
        inner_calls = [c for c in others if t_start <= _lm_times(c)[0] < t_next]
        t_end = max([_lm_times(attempts[-1])[1], *[_tool_times(r)[1] for r in in_iter],
                     *[_lm_times(c)[1] for c in inner_calls]])
        it = b.span(f"iteration {k}", SpanType.CHAIN, root, t_start, t_end,
                    inputs={"iteration": k},
                    outputs={"reasoning": _field(_REASONING, response), "code": code},
                    error=attempts[-1].get("error"))
        for c in attempts:
            b.close(_lm_span(b, c, it))
        lm_end = _lm_times(attempts[-1])[1]
        if code or in_iter or inner_calls:
            run = b.span("run code", SpanType.TOOL, it, lm_end, max(t_end, lm_end),
                         inputs={"code": code}, attributes={"rlmdj.tool_calls": len(in_iter)})
            for rec in in_iter:
                placed_tools.add(id(rec))
                t0, t1 = _tool_times(rec)
                result = rec.get("result") or {}
                span = b.span(str(rec.get("tool")), SpanType.TOOL, run, t0, t1,
                              inputs={"args": rec.get("args"), "bar": rec.get("bar")},
                              outputs=result, attributes={"rlmdj.bar": int(rec.get("bar") or 0)},
                              error=None if result.get("ok", True) else str(result.get("error")))
                for c in inner_calls:
                    if id(c) not in placed_calls and t0 <= _lm_times(c)[0] <= t1:
                        placed_calls.add(id(c))
                        b.close(_lm_span(b, c, span))
                b.close(span)
            for c in inner_calls:
                if id(c) not in placed_calls:
                    placed_calls.add(id(c))
                    b.close(_lm_span(b, c, run))
            b.close(run)
        b.close(it)
    # Calls outside any iteration: the autopilot's play after the model stopped, late critics.
    for rec in tools:
        if id(rec) not in placed_tools:
            t0, t1 = _tool_times(rec)
            b.close(b.span(str(rec.get("tool")), SpanType.TOOL, root, t0, t1,
                           inputs={"args": rec.get("args"), "bar": rec.get("bar")},
                           outputs=rec.get("result"), attributes={"rlmdj.bar": int(rec.get("bar") or 0)}))
    for c in others:
        if id(c) not in placed_calls:
            b.close(_lm_span(b, c, root))
    for r in record.restarts:
        t = float(r["t"])
        b.close(b.span("sandbox restart", SpanType.UNKNOWN, root, t, t, inputs={"reason": r.get("reason")}))
    root.end(outputs=record.outputs, end_time_ns=_ns(end))
    mlflow.flush_trace_async_logging()
    return root.trace_id


def trace_summary(spans: Sequence[Any]) -> dict[str, int]:
    """Span counts by name prefix (``iteration``, ``main LM``, tool names...): for checks."""
    counts: dict[str, int] = {}
    for span in spans:
        key = "iteration" if span.name.startswith("iteration ") else span.name
        counts[key] = counts.get(key, 0) + 1
    return counts
