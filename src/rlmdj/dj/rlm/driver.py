"""The RLM DJ: a ``dspy.RLM`` plays the set by writing code that calls the mixer tools.

The model sees the palette and the set plan (phases in bars of *this* set) as inputs, the
prompt file as instructions, and :mod:`rlmdj.dj.tools.mixer` as functions. The driver adds what
the earlier prototype lacked:

- a hard stop: once the last bar is rendered, the sandbox execution is turned into the final
  answer, so the RLM loop ends with no further LM call (and any tool call after the end
  aborts the running code);
- a refused early ``SUBMIT`` while bars remain; bars still unplayed when the model runs out of
  turns are played with the mixer as it stands (counted as ``dj/autopilot_bars``), and so are
  those left when the set's budget stops its LM requests (``dj/budget_bars_held``);
- crash/hang recovery of the sandbox, every LM call recorded (transcript) and exact replay;
- rlmdj's own lean scaffold and a bounded history (:mod:`rlmdj.dj.rlm.scaffold`,
  ``dj.scaffold``/``dj.history``), or DSPy's stock ones for comparison.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import dspy

from rlmdj.config.dj import DJConfig, GuardrailsConfig, ModelConfig
from rlmdj.dj.drivers.base import DriverReport, PromptedDriver, SandboxDriver, TranscriptDriver
from rlmdj.dj.energy import PHASES, bar_energy, phase_spans, target_energy
from rlmdj.dj.rlm.accounting import driver_metrics
from rlmdj.dj.rlm.budget import SetBudget
from rlmdj.dj.rlm.critic import Critic
from rlmdj.dj.rlm.dspy_compat import ScaffoldedRLM
from rlmdj.dj.rlm.lm import RecordingLM
from rlmdj.dj.rlm.reask import ReaskingAdapter
from rlmdj.dj.rlm.replay import ReplaySource, replay_config
from rlmdj.dj.rlm.sandbox import interpreter_factory
from rlmdj.dj.rlm.scaffold import (
    LEAN_FIELDS,
    check_settings,
    lean_instructions,
    ledger,
    palette_text,
    set_plan_text,
)
from rlmdj.dj.rlm.transcript import Transcript
from rlmdj.dj.session import Session
from rlmdj.dj.tools.feedback import CritiqueSettings
from rlmdj.dj.tools.guardrails import Guardrails, critique_from_config, guardrails_config
from rlmdj.dj.tools.mixer import ToolLayer

if TYPE_CHECKING:
    from rlmdj.dj.ears import EarScorerSource

__all__ = ["RLMDriver", "RLMSettings", "palette_text", "rlm_driver_from_config", "set_plan_text"]

log = logging.getLogger(__name__)

SIGNATURE = "palette: str, set_plan: str -> summary: str"


@dataclass(frozen=True)
class RLMSettings:
    """The config groups one RLM run reads, as their schema dataclasses (``dj``: loop limits and
    sandbox; ``guardrails``: critique, critic and hard stop; ``model``: retry policy).

    It holds no defaults of its own: every value is the schema's (``rlmdj.config.dj``) unless
    the config sets it. The properties below are the names the driver reads.
    """

    dj: DJConfig = field(default_factory=DJConfig)
    guardrails: GuardrailsConfig = field(default_factory=GuardrailsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)

    @classmethod
    def from_config(cls, cfg: Any) -> RLMSettings:
        """From a composed config's ``dj``, ``guardrails`` and ``model`` groups."""
        from omegaconf import OmegaConf

        from rlmdj.config.bind import bind

        return cls(dj=bind(OmegaConf.select(cfg, "dj"), DJConfig, "dj"),
                   guardrails=guardrails_config(cfg.guardrails),
                   model=bind(OmegaConf.select(cfg, "model"), ModelConfig, "model"))

    max_iters = property(lambda self: self.dj.max_iters)
    max_llm_calls = property(lambda self: self.dj.max_llm_calls)
    max_output_chars = property(lambda self: self.dj.max_output_chars)
    verbose = property(lambda self: self.dj.verbose)
    sandbox = property(lambda self: self.dj.sandbox)
    critic = property(lambda self: self.guardrails.critic)
    critic_every = property(lambda self: self.guardrails.critic_every)
    critic_max_chars = property(lambda self: self.guardrails.critic_max_chars)
    hard_stop = property(lambda self: self.guardrails.hard_stop)
    retries = property(lambda self: self.model.retries)
    backoff_s = property(lambda self: self.model.backoff_s)
    backoff_max_s = property(lambda self: self.model.backoff_max_s)

    @property
    def critique(self) -> CritiqueSettings | None:
        """Rule-based trajectory critique thresholds (None: ``guardrails.critique=false``)."""
        return critique_from_config(self.guardrails)

    def iterations_for(self, bars: int) -> int:
        """``max_iters``, or enough code turns for a set of ``bars`` (one per 4 bars, plus setup)."""
        return self.max_iters if self.max_iters > 0 else max(12, bars // 4 + 10)


class RLMDriver(PromptedDriver, TranscriptDriver, SandboxDriver):
    """Plays a set through ``dspy.RLM``; see the module docstring for the stop rules.

    ``lm``/``critic_lm``/``sub_lm`` are DSPy LMs (real, scripted, or :class:`ReplayLM`); the
    driver wraps each in a :class:`RecordingLM` writing to one transcript. ``replay`` is the
    source when replaying; it is checked for unused recorded calls at the end. ``sleep`` (retry
    back-off) and ``clock`` (the wall budget's) may be replaced, as tests do.
    """

    name = "rlm"

    def __init__(
        self,
        *,
        prompt_text: str,
        lm: dspy.BaseLM,
        guardrails: Guardrails | None = None,
        settings: RLMSettings | None = None,
        critic_lm: dspy.BaseLM | None = None,
        sub_lm: dspy.BaseLM | None = None,
        prompt_name: str = "custom",
        meta: dict[str, Any] | None = None,
        replay: ReplaySource | None = None,
        sleep: Any = time.sleep,
        ears: Any = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.prompt_text = prompt_text
        self.prompt_name = prompt_name
        self.settings = settings or RLMSettings()
        check_settings(self.settings.dj, self.settings.model)
        self.guardrails = guardrails or Guardrails()
        self.replay = replay
        self.ears = ears  # rlmdj.dj.ears.Ears: listen() and audition() are offered when set
        self.transcript = Transcript(meta=dict(meta or {}))
        self._raw = {"main": lm, "critic": critic_lm, "sub": sub_lm or lm}
        self._sleep = sleep
        self._clock = clock
        self.session: Session | None = None
        self.tools: ToolLayer | None = None
        self.main: RecordingLM | None = None
        self.critic_lm: RecordingLM | None = None
        self.sub: RecordingLM | None = None
        self.critic: Critic | None = None
        self.factory: Any = None
        self.stop_reason = "not started"
        self.refused_submits = 0
        self.autopilot_bars = 0
        self.wall_s = 0.0
        self.summary = ""
        self.adapter: ReaskingAdapter | None = None
        self.budget = SetBudget()

    # ----------------------------------------------------------------- perform
    def perform(self, session: Session) -> None:
        self.session = session
        s = self.settings
        started = time.perf_counter()
        self.transcript.meta.update({
            "prompt_name": self.prompt_name,
            "prompt_text": self.prompt_text,
            "prompt_sha256": hashlib.sha256(self.prompt_text.encode()).hexdigest(),
            "palette": json.loads(session.palette.to_json()),
            "bars": session.max_bars,
            "bpm": session.grid.bpm,
            **{k: getattr(s.dj, k) for k in ("scaffold", "history", "history_window", "sub_lm")},
            "system_sha256": hashlib.sha256(self.system_text().encode()).hexdigest(),
        })
        self.budget = SetBudget.for_set(s, meta=self.transcript.meta, clock=self._clock,
                                        recorded=self.replay.transcript.meta if self.replay else None)
        ended = lambda: session.finished  # noqa: E731
        self.main = self._record(self._raw["main"], "main", ended)
        self.sub = self._record(self._raw["sub"], "sub", ended)
        if s.critic and self._raw["critic"] is not None:
            self.critic_lm = self._record(self._raw["critic"], "critic", ended)
            self.critic = Critic(self.critic_lm, max_chars=s.critic_max_chars)
        from rlmdj.dj.ears.tools import tool_names

        self.tools = ToolLayer(session, self.guardrails, critique=s.critique, critic=self.critic,
                               critic_every=s.critic_every, hard_stop=s.hard_stop,
                               tools=tool_names(self.ears is not None),
                               services={"ears": self.ears} if self.ears is not None else None)
        main = self.main
        self.factory = interpreter_factory(s.sandbox, is_setup=lambda: main.calls == 0,
                                           after_execute=self._gate, starting=self.budget.sandbox_start)
        rlm = self._module(self.tools.functions(), self.factory, s.iterations_for(session.max_bars))
        self.adapter = self._adapter()
        self.stop_reason = "running"
        try:
            with dspy.context(lm=self.main, adapter=self.adapter):
                prediction = self.budget.run(rlm, palette=palette_text(session, self.guardrails),
                                             set_plan=set_plan_text(session, self.guardrails))
            self.summary = str(getattr(prediction, "summary", ""))[:2000]
            if self.stop_reason == "running":
                self.stop_reason = self.budget.stop_reason or ("submit" if session.finished else "out_of_turns")
            if not session.finished and not self.budget.hold(self.tools):
                bars = session.remaining
                self.tools.call("play", bars)
                self.autopilot_bars = bars
            if self.replay is not None:
                self.replay.check_complete()
        except BaseException as exc:
            self.stop_reason = f"error: {type(exc).__name__}"
            raise
        finally:
            self.wall_s = time.perf_counter() - started

    def _module(self, functions: list[Any], factory: Any, max_iters: int) -> ScaffoldedRLM:
        """The RLM over the tool ``functions`` with this run's scaffold and history."""
        s, d = self.settings, self.settings.dj
        lean = d.scaffold == "lean"
        instructions = functools.partial(lean_instructions, sub_lm_calls=s.max_llm_calls if d.sub_lm else None)
        return ScaffoldedRLM(
            dspy.Signature(SIGNATURE, instructions=self.prompt_text),
            instructions=instructions if lean else None, fields=LEAN_FIELDS if lean else None,
            sub_lm_tools=d.sub_lm, window=d.history_window if d.history == "window" else None,
            ledger=self._ledger, max_iters=max_iters, max_llm_calls=s.max_llm_calls,
            max_output_chars=s.max_output_chars, verbose=s.verbose,
            tools=[self._stopping(fn) for fn in functions], sub_lm=self.sub, interpreter_factory=factory,
        )

    def _adapter(self) -> ReaskingAdapter:
        return ReaskingAdapter(retries=self.settings.retries, flat=self.settings.dj.scaffold == "lean")

    def _ledger(self, folded: list[Any], shown: int) -> str:
        assert self.session is not None and self.tools is not None
        return ledger(folded, shown=shown, session=self.session, trace=self.tools.trace,
                      feedback=self.tools.feedback_log, guardrails=self.guardrails)

    def system_text(self) -> str:
        """The system message of every main request: field structure, DJ prompt, scaffold and
        tool list (what the Prompt Registry versions; it needs no session)."""
        from rlmdj.dj.ears.tools import tool_names
        from rlmdj.dj.tools.registry import TOOLS

        functions = [TOOLS.get(n).sandbox_function(lambda *a: "") for n in tool_names(self.ears is not None)]
        module = self._module(functions, interpreter_factory(self.settings.sandbox), 1)
        return self._adapter().format_system_message(module.generate_action.signature)

    def _stopping(self, fn: Any) -> Any:
        """``fn`` that, once the set is over, ends the running sandbox code (the hard stop).

        A model that catches the end-of-set error (``while True: try: play(1) except: pass``)
        would otherwise hold the run until the sandbox timeout; the interpreters are told to
        kill the execution and :meth:`_gate` turns that into the final answer.
        """

        @functools.wraps(fn)
        def tool(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                session = self.session
                if session is not None and session.finished and self.settings.hard_stop:
                    for interpreter in getattr(self.factory, "made", []) or []:
                        interpreter.request_stop()

        return tool

    def _record(self, lm: dspy.BaseLM | None, label: str, ended: Any) -> RecordingLM | None:
        if lm is None:
            return None
        s = self.settings
        return RecordingLM(lm, self.transcript, label, retries=s.retries, backoff_s=s.backoff_s,
                           backoff_max_s=s.backoff_max_s, after_end=ended, sleep=self._sleep,
                           budget=self.budget)

    def _gate(self, result: Any) -> Any:
        """Turn the end of the set into the RLM's final answer; refuse an early SUBMIT."""
        from rlmdj.dj.rlm.dspy_compat import FinalOutput

        session = self.session
        if session is not None and session.finished and self.settings.hard_stop:
            self.stop_reason = "hard_stop"
            return FinalOutput({"summary": f"set complete: {session.max_bars} bars played"})
        if isinstance(result, FinalOutput) and session is not None and not session.finished:
            self.refused_submits += 1
            return (f"[Error] SUBMIT refused: the set is not finished ({session.remaining} of "
                    f"{session.max_bars} bars remain). Keep playing, e.g. play(8).")
        return result

    @property
    def restart_log(self) -> list[dict[str, Any]]:
        """Every sandbox restart of the set so far, ``{t, reason}``: the set's trace shows them."""
        made = self.factory.made if self.factory is not None else []
        return [r for interpreter in made for r in interpreter.restart_log]

    # ------------------------------------------------------------------ report
    def report(self) -> DriverReport:
        session, tools = self.session, self.tools
        lms = {k: v for k, v in (("main", self.main), ("critic", self.critic_lm), ("sub", self.sub)) if v}
        restarts = sum(i.restarts for i in getattr(self.factory, "made", []) or [])
        audio_s = session.grid.bars_to_seconds(session.bars_played) if session else 0.0
        metrics = driver_metrics(
            lms=lms, tools=tools, guardrails=self.guardrails, sandbox_restarts=restarts,
            wall_s=self.wall_s, audio_s=audio_s, critic=self.critic, budget=self.budget,
        )
        metrics["dj/autopilot_bars"] = float(self.autopilot_bars)
        metrics["dj/refused_submits"] = float(self.refused_submits)
        metrics["dj/hard_stop"] = 1.0 if self.stop_reason == "hard_stop" else 0.0
        metrics["dj/reasks"] = float(self.adapter.reasks if self.adapter else 0)
        if self.ears is not None:
            metrics.update(self.ears.metrics())
        metrics["dj/sandbox_stops"] = float(sum(getattr(i, "stops", 0)
                                                for i in getattr(self.factory, "made", []) or []))
        step: dict[str, list[float]] = {}
        history_rows = []
        if session is not None:
            names = [p.name for p in PHASES]
            spans = phase_spans(session.max_bars)
            for rec in session.history:
                phase = next((p.name for p, a, b in spans if a <= rec.bar < b), names[-1])
                row = {
                    "bar": rec.bar,
                    "phase": phase,
                    "energy": bar_energy(rec.layers),
                    "target_energy": target_energy(rec.bar, session.max_bars),
                    "layers": len(rec.audible),
                    "breakdown": rec.breakdown,
                    "gains": {r: c["gain"] for r, c in rec.layers.items()},
                    "mixer": rec.layers,
                }
                history_rows.append(row)
                step.setdefault("dj/energy", []).append(row["energy"])
                step.setdefault("dj/target_energy", []).append(row["target_energy"])
                step.setdefault("dj/layers", []).append(float(row["layers"]))
                step.setdefault("dj/phase", []).append(float(names.index(phase)))
        tags = {
            "dj.driver": "rlm",
            "dj.prompt": self.prompt_name,
            "dj.prompt_sha256": hashlib.sha256(self.prompt_text.encode()).hexdigest(),
            "dj.model": str(getattr(self._raw["main"], "model", "unknown")),
            "dj.sandbox": self.settings.sandbox.kind,
            "dj.scaffold": self.settings.dj.scaffold,
            "dj.history": "full" if self.settings.dj.history == "full" else f"window {self.settings.dj.history_window}",
            "dj.system_sha256": str(self.transcript.meta.get("system_sha256", "")),
            "rlmdj.lm_cache": "true" if self.settings.model.cache else "false",
            "dj.stop_reason": self.stop_reason,
        }
        if self.replay is not None:
            tags["dj.replay_of"] = str(self.transcript.meta.get("replay_of", "transcript"))
            if self.replay.divergence:
                tags["dj.replay_divergence"] = self.replay.divergence[:4000]
        artifacts = {
            "dj/transcript.json": self.transcript.to_json(),
            "dj/tool_trace.json": json.dumps(tools.trace if tools else [], indent=1, default=str),
            "dj/history.json": json.dumps(history_rows, indent=1),
            "dj/feedback.json": json.dumps(tools.feedback_log if tools else [], indent=1),
            "dj/prompt.txt": self.prompt_text,
        }
        if self.ears is not None:
            artifacts["dj/ears.json"] = json.dumps(self.ears.log, indent=1)
            tags["dj.ears_scorer"] = str(getattr(self.ears.scorer, "identity", self.ears.scorer.name))
        return DriverReport(metrics=metrics, step_metrics=step, tags=tags, artifacts=artifacts)


def rlm_driver_from_config(cfg: Any, *, ear_scorer: EarScorerSource | None = None) -> RLMDriver:
    """The RLM driver for a composed config (``dj=rlm model=... prompt=...``).

    With ``dj.replay_transcript`` set, every LM is a :class:`ReplayLM` over that transcript and
    the recorded prompt text is used, so no model is called and no key is needed. With
    ``ears=on`` the DJ hears through ``ear_scorer`` (injected by the run's assembly).
    """
    from rlmdj.dj.ears.settings import ears_from_config
    from rlmdj.dj.rlm.lm import LMSettings, build_lm
    from rlmdj.dj.rlm.replay import ReplayLM
    from rlmdj.dj.rlm_inputs import NEEDS_MODEL, prompt_text
    from rlmdj.errors import ParameterError

    settings = RLMSettings.from_config(cfg)
    d, m = settings.dj, settings.model
    guardrails = Guardrails(settings.guardrails)
    replay_path = d.replay_transcript
    if replay_path:
        recorded = Transcript.load(str(replay_path))
        source = ReplaySource(recorded)
        # What the recorded run was shown; transcripts from before dj.scaffold had DSPy's.
        shown = {"scaffold": "dspy", "history": "full", **{k: recorded.meta[k] for k in (
            "scaffold", "history", "history_window", "sub_lm") if k in recorded.meta}}
        settings = replace(settings, dj=replace(d, **shown))
        model = str(recorded.calls[0]["model"]) if recorded.calls else "replay"
        driver = RLMDriver(
            prompt_text=str(recorded.meta.get("prompt_text", "")),
            prompt_name=str(recorded.meta.get("prompt_name", "replay")),
            lm=ReplayLM(source, "main", model), critic_lm=ReplayLM(source, "critic", model),
            sub_lm=ReplayLM(source, "sub", model), guardrails=guardrails, settings=settings,
            replay=source, meta={"replay_of": str(recorded.meta.get("run_id") or replay_path)},
            ears=ears_from_config(cfg, ear_scorer),
        )
        return driver
    if not m.model:
        raise ParameterError(NEEDS_MODEL)
    name, text = prompt_text(cfg)
    ears = ears_from_config(cfg, ear_scorer)
    if ears is None and ("listen(" in text or "audition(" in text):
        raise ParameterError(f"prompt={name} tells the DJ to use listen() and audition(), which only "
                             "exist with ears=on; add ears=on or choose another prompt")
    replica = int(cfg.replica)
    main = build_lm(LMSettings.from_config(m, "main"), replica=replica)
    critic = None
    if settings.critic:
        critic = build_lm(LMSettings.from_config(m, "critic"), replica=replica, role="critic model")
    sub = main
    if m.sub_model:
        sub = build_lm(LMSettings.from_config(m, "sub"), replica=replica, role="sub model")
    return RLMDriver(
        prompt_text=text, prompt_name=name, lm=main, critic_lm=critic, sub_lm=sub,
        guardrails=guardrails, settings=settings, ears=ears,
        meta={"model": str(m.model), "model_name": str(m.name), "replica": replica,
              "config": replay_config(cfg)},
    )
