"""Schemas of the DJ-side groups: dj driver, model, prompt, guardrails, and replay.

The RLM driver reads all of them; offline drivers (reference, random) read ``dj`` and
``guardrails`` only. API keys are never config values: a model names the environment
variable its key lives in (``api_key_env``).
"""

from __future__ import annotations

# OmegaConf structured configs are written with typing.Optional, as in config/core.py.
# ruff: noqa: UP045
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = [
    "DJConfig",
    "GuardrailsConfig",
    "ModelConfig",
    "PromptConfig",
    "ReplayConfig",
    "SandboxConfig",
]


@dataclass
class SandboxConfig:
    """Where the RLM's code runs. ``kind: deno`` (Pyodide in Deno, isolated, offline once
    warmed) or ``local`` (DSPy's local CPython worker — trusted environments only).
    ``deno_dir: null`` uses ``$DENO_DIR`` or Deno's default cache. ``timeout_s``: one
    execution's wall-clock limit before the sandbox counts as hung and is restarted."""

    kind: str = "deno"
    deno_dir: Optional[str] = None
    timeout_s: float = 120.0
    max_restarts: int = 5


@dataclass
class DJConfig:
    """Which driver plays the set (``reference`` is deterministic and needs no LLM).

    RLM settings: ``max_iters`` code turns (0: derived from the set length), ``max_llm_calls``
    sub-LLM calls the code may make (``llm_query``), ``max_output_chars`` of printed output
    shown back. ``replay_transcript``: serve LM responses from this transcript instead of
    calling the model (set by ``experiment=replay``). ``max_wall_s``: the set's wall-clock
    budget (null: none), counted from when the sandbox is ready (its start-ups are the machine's
    time); once spent no LM request is sent and the rest is played holding the mix.
    """

    name: str = "reference"
    driver: str = "reference"
    max_iters: int = 0
    max_llm_calls: int = 4
    max_output_chars: int = 4000
    verbose: bool = False
    # What the RLM reads besides the prompt (docs/rlm.md): scaffold lean (rlmdj's REPL contract)
    # or dspy (DSPy's stock RLM text); history window (the last history_window steps verbatim,
    # earlier ones folded into a ledger of bounded size) or full; sub_lm offers llm_query to the
    # lean scaffold's code (the dspy scaffold always offers it).
    scaffold: str = "lean"
    history: str = "window"
    history_window: int = 3
    sub_lm: bool = False
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    replay_transcript: Optional[str] = None
    max_wall_s: Optional[float] = None
    # dj=greedy: every phrase_bars bars, audition `candidates` random moves plus holding.
    phrase_bars: int = 8
    candidates: int = 6


@dataclass
class ModelConfig:
    """The LLM behind the RLM driver, as a LiteLLM model id (unused by offline drivers).

    ``api_key_env`` names the environment variable holding the key (null: no key, e.g. a
    local server). Replica r's requests carry ``rollout_id=r``, so two replicas never share a
    cached answer; ``cache: true`` lets re-running the same replica be served from DSPy's cache
    (the run is tagged ``rlmdj.lm_cache=true``). ``retries`` transient failures are retried
    with exponential backoff from ``backoff_s`` up to ``backoff_max_s``. The critic (every 16
    bars) and the code's ``llm_query`` sub-LM default to the main model unless named.
    ``max_tokens_per_set`` (prompt + completion, every role) and ``max_cost_usd`` are the set's
    hard budgets (null: none; see ``rlmdj.dj.rlm.budget``).
    """

    name: str = "none"
    model: Optional[str] = None
    api_key_env: Optional[str] = None
    api_base: Optional[str] = None
    temperature: Optional[float] = 1.0
    max_tokens: Optional[int] = 4000
    cache: bool = False
    retries: int = 4
    backoff_s: float = 2.0
    backoff_max_s: float = 60.0
    critic_model: Optional[str] = None
    critic_api_key_env: Optional[str] = None
    critic_api_base: Optional[str] = None
    critic_temperature: Optional[float] = 0.7
    critic_max_tokens: Optional[int] = 400
    sub_model: Optional[str] = None
    max_tokens_per_set: Optional[int] = None
    max_cost_usd: Optional[float] = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PromptConfig:
    """DJ instructions: a file under prompts/ chosen by ``prompt=<name>``."""

    name: str = "none"
    path: Optional[str] = None
    description: str = ""


@dataclass
class GuardrailsConfig:
    """Tool-layer guardrails; each switch can be ablated from the command line, e.g.
    ``guardrails.density=false`` or ``guardrails.critic=false``."""

    name: str = "default"
    gain_cap: bool = True
    gain_caps: dict[str, float] = field(default_factory=lambda: {"texture": 0.55, "synth": 0.50})
    density: bool = True
    loop_type: bool = True
    critique: bool = True
    critique_every: int = 8
    energy_tolerance: float = 0.15
    kick_min_share: float = 0.85
    max_avg_layers: float = 6.0
    critic: bool = True
    critic_every: int = 16
    critic_max_chars: int = 300
    hard_stop: bool = True


@dataclass
class ReplayConfig:
    """What ``experiment=replay`` reproduces (``experiment.replay.*``): an MLflow ``run_id`` or a
    ``transcript`` file."""

    run_id: Optional[str] = None
    transcript: Optional[str] = None
