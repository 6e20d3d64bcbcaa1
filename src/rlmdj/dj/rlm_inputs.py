"""What the RLM DJ (``dj=rlm``) reads besides the mixer: its model, its prompt file, its sandbox
and its code and spending budgets, checked before a set is played.

:func:`check` is the ``rlm`` entry's check in :data:`~rlmdj.dj.drivers.registry.DRIVERS`, run by
the preflight before a run is opened. :func:`prompt_text` is the one prompt lookup: the check
and the driver read the same file from the same places, and :data:`NEEDS_MODEL` is the one
message for a missing model. A replay (``dj.replay_transcript``) calls no model, so it needs no
model, key or prompt.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from rlmdj.errors import ParameterError
from rlmdj.resources import bundled_dir
from rlmdj.validation import api_key_set, choice, http_url, number, setting

__all__ = ["NEEDS_MODEL", "PROVENANCE", "SANDBOXES", "check", "need_model", "prompt_file", "prompt_text",
           "strip_provenance"]

SANDBOXES: tuple[str, ...] = ("deno", "local")
NEEDS_MODEL = "dj=rlm needs a model, e.g. model=openai (or model=ollama for a local one)"
PROVENANCE = "# rlmdj optimised prompt"
"""First line of the header ``experiment=optimize_prompt`` writes atop a prompt file."""


def strip_provenance(text: str) -> str:
    """``text`` without its provenance header (a first line starting with :data:`PROVENANCE`, up to
    the first blank line): the model reads exactly the text that was optimised."""
    if not text.startswith(PROVENANCE):
        return text
    _, sep, rest = text.partition("\n\n")
    return rest if sep else ""


def need_model(cfg: Any) -> str:
    """``model.model``, or the one "needs a model" error."""
    model = setting(cfg, "model.model")
    if not model:
        raise ParameterError(NEEDS_MODEL)
    return str(model)


def prompt_file(cfg: Any) -> Path:
    """The prompt file ``prompt.path`` names: as given, under ``paths.prompts_dir``, or shipped."""
    path = setting(cfg, "prompt.path")
    if not path:
        raise ParameterError("dj=rlm needs a prompt; choose one, e.g. prompt=baseline "
                             f"(got prompt={setting(cfg, 'prompt.name')})")
    candidates = [Path(str(path))]
    with contextlib.suppress(Exception):  # ${hydra:...} does not resolve outside a Hydra app
        candidates.append(Path(str(cfg.paths.prompts_dir)) / str(path))
    shipped = bundled_dir("prompts")
    if shipped is not None:
        candidates.append(shipped / str(path))
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise ParameterError(f"prompt.path: {path} not found (looked in: "
                             f"{', '.join(map(str, candidates))})")
    return found


def prompt_text(cfg: Any) -> tuple[str, str]:
    """``(prompt name, prompt text)``; the file must be non-empty UTF-8 text."""
    found = prompt_file(cfg)
    try:
        text = found.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParameterError(f"prompt.path: {found} is not UTF-8 text (byte {exc.start})") from None
    text = strip_provenance(text)
    if not text.strip():
        raise ParameterError(f"prompt.path: {found} is empty")
    return str(setting(cfg, "prompt.name")), text


def check(cfg: Any) -> None:
    """``dj=rlm``'s preflight: sandbox and code budgets, scaffold and history, the tools' checks,
    then (unless it replays a transcript) the model settings, its key variables and the prompt file."""
    from rlmdj.dj.rlm.budget import check_set_budgets
    from rlmdj.dj.rlm.scaffold import HISTORIES, SCAFFOLDS, check_sub_model
    from rlmdj.dj.tools.registry import check_tools

    choice(cfg, "dj.sandbox.kind", SANDBOXES)
    number(cfg, "dj.sandbox.timeout_s", lo=1, hi=86400, example=120)
    number(cfg, "dj.sandbox.max_restarts", lo=0, hi=100, integer=True, example=5)
    number(cfg, "dj.max_iters", lo=0, hi=10000, integer=True, example=0)
    number(cfg, "dj.max_llm_calls", lo=0, hi=10000, integer=True, example=4)
    number(cfg, "dj.max_output_chars", lo=100, hi=10_000_000, integer=True, example=4000)
    choice(cfg, "dj.scaffold", SCAFFOLDS)
    choice(cfg, "dj.history", HISTORIES)
    number(cfg, "dj.history_window", lo=1, integer=True, example=3)
    check_tools(cfg)
    transcript = setting(cfg, "dj.replay_transcript")
    if transcript:
        if not Path(str(transcript)).is_file():
            raise ParameterError(f"dj.replay_transcript: {transcript} does not exist")
        return  # a replay calls no model: no key, prompt or model settings needed
    need_model(cfg)
    number(cfg, "model.temperature", lo=0, hi=2, example=1.0, optional=True)
    number(cfg, "model.max_tokens", lo=1, hi=10_000_000, integer=True, example=4000, optional=True)
    number(cfg, "model.retries", lo=0, hi=100, integer=True, example=4)
    number(cfg, "model.backoff_s", lo=0, hi=3600, example=2.0)
    number(cfg, "model.backoff_max_s", lo=0, hi=86400, example=60)
    number(cfg, "model.critic_temperature", lo=0, hi=2, example=0.7, optional=True)
    number(cfg, "model.critic_max_tokens", lo=1, hi=10_000_000, integer=True, example=400, optional=True)
    for key in ("model.api_base", "model.critic_api_base"):
        base = setting(cfg, key)
        if base:
            http_url(base, key, "http://127.0.0.1:8000/v1")
    check_sub_model(str(setting(cfg, "dj.scaffold")), bool(setting(cfg, "dj.sub_lm")),
                    setting(cfg, "model.sub_model"))
    check_set_budgets(cfg)  # the set's token, cost and wall-clock limits
    api_key_set(cfg, "model.api_key_env", "model.model")
    if setting(cfg, "guardrails.critic") and setting(cfg, "model.critic_model"):
        api_key_set(cfg, "model.critic_api_key_env", "model.critic_model")
    prompt_text(cfg)
