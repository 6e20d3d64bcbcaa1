"""Check everything that can be checked before a run is opened, an LLM is called or a bar is
rendered, so a typo costs a second and leaves no FAILED run behind.

:func:`preflight` is called by the CLI for every job, before the job opens anything, with the
checks that job needs (``run`` and ``replay`` need all of them; ``serve`` its port and scorer;
``samples`` the sample folders). Every message names the config key (``render.normalize_dbfs``,
``scorer.token_env``) and shows a value that works. Checks that need the sample index (the
palette resolves and is not empty) build it once; the run reuses it.

What cannot be known before playing (a scorer server that goes away mid-run, a disk that fills
up) is still caught where it happens and reported by :mod:`rlmdj.failures`.
"""

from __future__ import annotations

import errno
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from omegaconf import DictConfig, OmegaConf

from rlmdj.axes import AXES as _AXES
from rlmdj.errors import ParameterError

__all__ = ["CHECKS", "check_folder_writable", "check_prompt", "checks_for", "preflight"]

_SANDBOXES = ("deno", "local")
_STORE_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=None, throw_on_missing=False)


def _number(cfg: DictConfig, key: str, *, lo: float | None = None, hi: float | None = None,
            integer: bool = False, example: Any, optional: bool = False) -> float | None:
    value = _get(cfg, key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{key} must be a number, got {value!r} (e.g. {key}={example})")
    if not math.isfinite(float(value)):
        raise ParameterError(f"{key} must be finite, got {value!r} (e.g. {key}={example})")
    if integer and float(value) != int(value):
        raise ParameterError(f"{key} must be a whole number, got {value!r} (e.g. {key}={example})")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        span = f"between {lo:g} and {hi:g}" if lo is not None and hi is not None else (
            f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
        raise ParameterError(f"{key} must be {span}, got {value!r} (e.g. {key}={example})")
    return float(value)


def _choice(cfg: DictConfig, key: str, choices: tuple[str, ...], *, upper: bool = False,
            lower: bool = False) -> str:
    value = str(_get(cfg, key))
    probe = value.upper() if upper else value.lower() if lower else value
    if probe not in choices:
        raise ParameterError(f"{key} must be one of {', '.join(choices)}, got {value!r} "
                             f"(e.g. {key}={choices[0]})")
    return probe


def _env_set(cfg: DictConfig, key: str) -> None:
    name = _get(cfg, key)
    if name and not os.environ.get(str(name), "").strip():
        raise ParameterError(f"{key}={name}: the environment variable {name} is not set "
                             f"(export {name}=... or set {key}=null)")


def _key_set(cfg: DictConfig, key: str, model_key: str) -> None:
    name = _get(cfg, key)
    if name and not os.environ.get(str(name), "").strip():
        model = _get(cfg, model_key)
        raise ParameterError(f"model {model!r} needs an API key in the environment variable {name} "
                             f"({key}); set it (export {name}=...) or choose another model=...")


def check_folder_writable(path: str | Path, key: str) -> None:
    """``path`` is a writable folder, or one that can be created; ParameterError naming ``key``.

    Creates nothing: a probe file is written (and removed) in ``path`` or, when it does not
    exist yet, in its nearest existing parent, so a refused run leaves no folder behind.
    """
    folder = Path(str(path)).expanduser()
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is not a folder")
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".rlmdj-probe-"):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ParameterError(f"{key}: cannot write to {folder} ({why}); point {key} at a "
                             "writable folder") from None


# ---------------------------------------------------------------------- checks
def check_numbers(cfg: DictConfig) -> None:
    """bars, bpm, replica and the render settings."""
    _number(cfg, "bars", lo=1, hi=4096, integer=True, example=32)
    _number(cfg, "bpm", lo=20, hi=400, example=128)
    _number(cfg, "replica", lo=0, integer=True, example=0)
    _number(cfg, "render.sample_rate", lo=8000, hi=384000, integer=True, example=44100)
    _number(cfg, "render.normalize_dbfs", lo=-60, hi=0, example=-1.0, optional=True)
    _number(cfg, "render.gain_ramp_ms", lo=0, hi=1000, example=5.0)
    from rlmdj.audio.wavio import PREVIEW_FORMATS, WAV_SUBTYPES

    _choice(cfg, "render.wav_subtype", tuple(WAV_SUBTYPES), upper=True)
    fmt = _choice(cfg, "render.preview_format", tuple(PREVIEW_FORMATS), lower=True)
    if _get(cfg, "tracking.log_preview"):
        import soundfile as sf

        container, codec = PREVIEW_FORMATS[fmt]
        if container not in sf.available_formats() or codec not in sf.available_subtypes(container):
            raise ParameterError(f"render.preview_format={fmt}: this libsndfile cannot write "
                                 f"{container}/{codec}; use render.preview_format=ogg")


def check_folders(cfg: DictConfig) -> None:
    """Output, cache and artifact folders exist or can be created, and are writable."""
    check_folder_writable(_get(cfg, "paths.output_dir"), "paths.output_dir")
    if _get(cfg, "samples.builtin"):
        check_folder_writable(_get(cfg, "samples.cache_dir"), "samples.cache_dir")
    for i, p in enumerate(_get(cfg, "samples.paths") or []):
        if not Path(str(p)).expanduser().is_dir():
            raise ParameterError(f"samples.paths[{i}]: {p} is not a folder")
    if _get(cfg, "scorer.cache"):
        check_folder_writable(_get(cfg, "scorer.cache_dir"), "scorer.cache_dir")


def check_tracking(cfg: DictConfig) -> None:
    """The store URI has a scheme MLflow knows; local stores' folders are writable."""
    if not _get(cfg, "tracking.enabled"):
        return
    uri = str(_get(cfg, "tracking.uri") or "")
    scheme = uri.split("://", 1)[0].split("+", 1)[0] if "://" in uri else ""
    if uri and (scheme == "file" or uri.startswith("file:") or "://" not in uri):
        folder = Path(uri.removeprefix("file://").removeprefix("file:")).expanduser().absolute()
        raise ParameterError(f"tracking.uri={uri}: MLflow no longer takes file stores (a folder "
                             f"or file:...); use a SQLite store, e.g. tracking.uri=sqlite:///"
                             f"{folder / 'mlruns.db'}, or a server (http://host:5000)")
    if not uri or (scheme and scheme not in _STORE_SCHEMES):
        raise ParameterError(f"tracking.uri={uri!r} is not a store MLflow can use; use "
                             "sqlite:///path/to/mlruns.db or http://host:5000")
    if scheme in ("http", "https"):
        from rlmdj.tracking.health import check_server

        check_server(uri)  # a server that is down fails in seconds, before the samples load
    if uri.startswith("sqlite:///"):
        check_folder_writable(Path(uri.removeprefix("sqlite:///")).parent, "tracking.uri")
    if scheme == "sqlite" and _get(cfg, "tracking.artifact_location"):
        check_folder_writable(_get(cfg, "tracking.artifact_location"), "tracking.artifact_location")


def check_scorer(cfg: DictConfig) -> None:
    """Scorer name, OBJ weights, timeouts, URL and the token variables it names."""
    from rlmdj.scoring.factory import SCORERS

    name = _choice(cfg, "scorer.name", tuple(SCORERS.names()))
    weights = _get(cfg, "scorer.weights") or {}
    for axis in dict(weights):
        if str(axis) not in _AXES:
            raise ParameterError(f"scorer.weights.{axis}: unknown axis; axes: {', '.join(_AXES)}")
        _number(cfg, f"scorer.weights.{axis}", lo=0, hi=1000, example=0.6)
    if weights and not any(float(w) > 0 for w in dict(weights).values()):
        raise ParameterError("scorer.weights: at least one weight must be positive "
                             "(e.g. scorer.weights.CE=0.6)")
    _number(cfg, "scorer.timeout_s", lo=0.1, hi=86400, example=120)
    _number(cfg, "scorer.connect_timeout_s", lo=0.1, hi=3600, example=10)
    _number(cfg, "scorer.retries", lo=0, hi=100, integer=True, example=3)
    _number(cfg, "scorer.backoff_s", lo=0, hi=3600, example=1.0)
    _number(cfg, "scorer.max_concurrency", lo=1, hi=1024, integer=True, example=2)
    _number(cfg, "scorer.max_wait_s", lo=0.1, hi=86400, example=300)
    _number(cfg, "scorer.max_batch_sets", lo=1, hi=4096, integer=True, example=8)
    _number(cfg, "scorer.batch_size", lo=1, hi=4096, integer=True, example=4)
    if name in ("http", "modal"):
        url = _get(cfg, "scorer.url") or (os.environ.get("RLMDJ_MODAL_URL") if name == "modal" else None)
        if not url:
            raise ParameterError(f"scorer={name} needs scorer.url=http://host:port "
                                 "(a server started with `rlmdj experiment=serve`)")
        parsed = urlparse(str(url))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ParameterError(f"scorer.url must be an http(s) URL, got {url!r} "
                                 "(e.g. scorer.url=http://127.0.0.1:8000)")
        for key in ("scorer.token_env", "scorer.modal_key_env", "scorer.modal_secret_env"):
            _env_set(cfg, key)
    if name == "audiobox":
        _choice(cfg, "scorer.precision", ("fp32", "fp16", "bf16"), lower=True)
        ckpt = _get(cfg, "scorer.checkpoint")
        if ckpt and (str(ckpt).startswith((".", "/", "~")) and not Path(str(ckpt)).expanduser().exists()):
            raise ParameterError(f"scorer.checkpoint: {ckpt} does not exist")


def check_driver(cfg: DictConfig) -> None:
    """The DJ driver, and for ``dj=rlm``: model settings, key variables, prompt file, sandbox."""
    from rlmdj.dj.drivers.registry import DRIVERS

    driver = _choice(cfg, "dj.driver", tuple(DRIVERS.names()))
    if driver == "greedy":
        _number(cfg, "dj.phrase_bars", lo=1, hi=4096, integer=True, example=8)
        _number(cfg, "dj.candidates", lo=1, hi=1000, integer=True, example=6)
    if driver == "greedy" or _get(cfg, "ears.enabled"):
        check_ears(cfg)
    if driver != "rlm":
        return
    _choice(cfg, "dj.sandbox.kind", _SANDBOXES)
    _number(cfg, "dj.sandbox.timeout_s", lo=1, hi=86400, example=120)
    _number(cfg, "dj.sandbox.max_restarts", lo=0, hi=100, integer=True, example=5)
    _number(cfg, "dj.max_iters", lo=0, hi=10000, integer=True, example=0)
    _number(cfg, "dj.max_llm_calls", lo=0, hi=10000, integer=True, example=4)
    _number(cfg, "dj.max_output_chars", lo=100, hi=10_000_000, integer=True, example=4000)
    if _get(cfg, "dj.replay_transcript"):
        path = Path(str(_get(cfg, "dj.replay_transcript")))
        if not path.is_file():
            raise ParameterError(f"dj.replay_transcript: {path} does not exist")
        return  # a replay calls no model: no key, prompt or model settings needed
    if not _get(cfg, "model.model"):
        raise ParameterError("dj=rlm needs a model, e.g. model=openai (or model=ollama for a local one)")
    _number(cfg, "model.temperature", lo=0, hi=2, example=1.0, optional=True)
    _number(cfg, "model.max_tokens", lo=1, hi=10_000_000, integer=True, example=4000, optional=True)
    _number(cfg, "model.retries", lo=0, hi=100, integer=True, example=4)
    _number(cfg, "model.backoff_s", lo=0, hi=3600, example=2.0)
    _number(cfg, "model.backoff_max_s", lo=0, hi=86400, example=60)
    _number(cfg, "model.critic_temperature", lo=0, hi=2, example=0.7, optional=True)
    _number(cfg, "model.critic_max_tokens", lo=1, hi=10_000_000, integer=True, example=400, optional=True)
    for key in ("model.api_base", "model.critic_api_base"):
        base = _get(cfg, key)
        if base:
            parsed = urlparse(str(base))
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ParameterError(f"{key} must be an http(s) URL, got {base!r} "
                                     f"(e.g. {key}=http://127.0.0.1:8000/v1)")
    _key_set(cfg, "model.api_key_env", "model.model")
    if _get(cfg, "guardrails.critic") and _get(cfg, "model.critic_model"):
        _key_set(cfg, "model.critic_api_key_env", "model.critic_model")
    check_prompt(cfg)


def check_ears(cfg: DictConfig) -> None:
    """A hearing DJ's scorer name and budgets (``ears.*``)."""
    from rlmdj.scoring.factory import SCORERS

    if _get(cfg, "ears.scorer") is not None:
        _choice(cfg, "ears.scorer", tuple(SCORERS.names()))
    for key in ("ears.max_listens", "ears.max_auditions", "ears.max_moves"):
        _number(cfg, key, lo=0, hi=100_000, integer=True, example=8)
    _number(cfg, "ears.max_chars", lo=200, hi=10_000_000, integer=True, example=600)


def check_prompt(cfg: DictConfig) -> None:
    """``dj=rlm``'s prompt file exists (as given, under ``paths.prompts_dir`` or shipped) and
    is UTF-8 text; the same places the RLM driver looks."""
    from rlmdj.resources import bundled_dir

    path = _get(cfg, "prompt.path")
    if not path:
        raise ParameterError(f"dj=rlm needs a prompt; choose one, e.g. prompt=baseline "
                             f"(got prompt={_get(cfg, 'prompt.name')})")
    candidates = [Path(str(path)), Path(str(_get(cfg, "paths.prompts_dir"))) / str(path)]
    shipped = bundled_dir("prompts")
    if shipped is not None:
        candidates.append(shipped / str(path))
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise ParameterError(f"prompt.path: {path} not found (looked in: "
                             f"{', '.join(map(str, candidates))})")
    try:
        text = found.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParameterError(f"prompt.path: {found} is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise ParameterError(f"prompt.path: {found} is empty")


def check_guardrails(cfg: DictConfig) -> None:
    """Guardrail thresholds are in range."""
    _number(cfg, "guardrails.critique_every", lo=1, hi=4096, integer=True, example=8)
    _number(cfg, "guardrails.critic_every", lo=1, hi=4096, integer=True, example=16)
    _number(cfg, "guardrails.energy_tolerance", lo=0, hi=10, example=0.15)
    _number(cfg, "guardrails.kick_min_share", lo=0, hi=1, example=0.85)
    _number(cfg, "guardrails.max_avg_layers", lo=0, hi=64, example=6.0)
    for role in dict(_get(cfg, "guardrails.gain_caps") or {}):
        _number(cfg, f"guardrails.gain_caps.{role}", lo=0, hi=1, example=0.55)


def check_palette(cfg: DictConfig) -> None:
    """The palette resolves against the sample index and names at least one sample."""
    from rlmdj.experiments.assemble import load_index, resolve_palette

    source = str(_get(cfg, "palette.source"))
    if source == "file" and _get(cfg, "palette.path"):
        path = Path(str(_get(cfg, "palette.path")))
        if not path.is_file():
            raise ParameterError(f"palette.path: {path} does not exist")
    index = load_index(cfg, progress=bool(_get(cfg, "progress")))
    palette = resolve_palette(cfg, index)
    if not palette.samples:
        raise ParameterError(f"palette {palette.name!r} has no samples; a set needs at least one "
                             "role, e.g. {\"samples\": {\"kick\": \"kick-00\"}} "
                             "(`rlmdj experiment=samples` lists the ids)")


def check_serve(cfg: DictConfig) -> None:
    """The scorer server's port, host and limits (before the model is loaded)."""
    p = "experiment.serve" if _get(cfg, "experiment.serve") is not None else "serve"
    _number(cfg, f"{p}.port", lo=0, hi=65535, integer=True, example=8000)
    if not str(_get(cfg, f"{p}.host") or ""):
        raise ParameterError(f"{p}.host must name an interface, e.g. {p}.host=127.0.0.1")
    _number(cfg, f"{p}.max_upload_mb", lo=0.001, hi=1e6, example=200)
    _number(cfg, f"{p}.max_duration_s", lo=1, hi=1e6, example=1800)
    _number(cfg, f"{p}.max_concurrency", lo=1, hi=1024, integer=True, example=1)
    _number(cfg, f"{p}.max_queue", lo=0, hi=100000, integer=True, example=16)
    _number(cfg, f"{p}.read_timeout_s", lo=0.1, hi=86400, example=15)
    _number(cfg, f"{p}.max_uploads_per_client", lo=1, hi=100000, integer=True, example=4)
    _number(cfg, f"{p}.max_batch_sets", lo=1, hi=100000, integer=True, example=64)
    _env_set(cfg, f"{p}.token_env")
    check_scorer(cfg)


def check_compare_settings(cfg: DictConfig) -> None:
    """``experiment.compare.*`` in range: the compare job reads them, and so does a sweep's
    analysis, which runs after every job (a bad ``alpha`` must not wait for it)."""
    from rlmdj.config.experiment import check_compare

    if _get(cfg, "experiment.compare") is not None:
        check_compare(_get(cfg, "experiment.compare"))


def check_samples(cfg: DictConfig) -> None:
    """Sample folders for ``experiment=samples``."""
    for i, p in enumerate(_get(cfg, "samples.paths") or []):
        if not Path(str(p)).expanduser().is_dir():
            raise ParameterError(f"samples.paths[{i}]: {p} is not a folder")
    if _get(cfg, "samples.builtin"):
        check_folder_writable(_get(cfg, "samples.cache_dir"), "samples.cache_dir")


_RUN: tuple[Callable[[DictConfig], None], ...] = (
    check_numbers, check_tracking, check_scorer, check_guardrails, check_driver, check_folders,
    check_compare_settings, check_palette,
)
# Which checks each job needs before it starts; jobs not listed get the common ones.
CHECKS: dict[str, tuple[Callable[[DictConfig], None], ...]] = {
    "run": _RUN,
    "serve": (check_serve,),
    "samples": (check_samples,),
    "replay": (check_numbers, check_tracking, check_scorer, check_folders),
    "compare": (check_compare_settings, check_tracking),
}
_COMMON = (check_numbers, check_tracking, check_scorer, check_guardrails, check_folders, check_compare_settings)


def checks_for(cfg: DictConfig, job: str | None = None) -> tuple[Callable[[DictConfig], None], ...]:
    """The checks ``job`` (default: ``experiment.name``) needs, in order."""
    return CHECKS.get(job or str(_get(cfg, "experiment.name") or "run"), _COMMON)


def preflight(cfg: DictConfig, job: str | None = None) -> None:
    """Run the checks ``job`` (default: ``experiment.name``) needs; ParameterError on the first
    problem, naming its config key."""
    for check in checks_for(cfg, job):
        check(cfg)
