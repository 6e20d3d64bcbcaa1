"""Schemas of the foundation groups: samples, render, palette, tracking, paths."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SamplesConfig", "RenderConfig", "PaletteConfig", "TrackingConfig", "PathsConfig"]

DEFAULT_ROLES = ["kick", "hihat", "bassline", "perc", "texture", "clap"]


@dataclass
class PathsConfig:
    """Every filesystem location in one place (relative paths resolve against the launch dir)."""

    root_dir: str = "${rlmdj.cwd:}"
    palettes_dir: str = "${paths.root_dir}/palettes"
    prompts_dir: str = "${paths.root_dir}/prompts"
    output_dir: str = "${rlmdj.output_dir:}"


@dataclass
class SamplesConfig:
    """Where samples come from: the built-in synthesised pack and/or user folders."""

    builtin: bool = True
    pack_seed: int = 0
    variants_per_role: int = 16
    cache_dir: str = "${rlmdj.cache_dir:}"
    paths: list[str] = field(default_factory=list)


@dataclass
class RenderConfig:
    """Audio output settings. ``normalize_dbfs: null`` disables peak normalisation.

    ``artifact_format``: how the set is stored in MLflow, once: ``flac`` (24-bit, lossless at
    that depth, about a third of the float WAV) or ``wav`` (float32 as rendered, ``wav_subtype``).
    """

    sample_rate: int = 44_100
    normalize_dbfs: float | None = -1.0
    artifact_format: str = "flac"
    wav_subtype: str = "FLOAT"
    preview_format: str = "ogg"
    gain_ramp_ms: float = 5.0


@dataclass
class PaletteConfig:
    """``source: random`` draws role-correct samples seeded by the replica; ``file`` loads ``name``."""

    source: str = "random"
    name: str = "random"
    path: str | None = None
    roles: list[str] = field(default_factory=lambda: list(DEFAULT_ROLES))


@dataclass
class TrackingConfig:
    """MLflow destination: local SQLite + artifact folder by default, or a server URI."""

    enabled: bool = True
    uri: str = "sqlite:///${paths.root_dir}/mlruns.db"
    artifact_location: str = "${paths.root_dir}/mlartifacts"
    experiment: str = "rlmdj"
    run_name: str | None = None
    log_preview: bool = True
    log_timeline: bool = True
    traces: bool = True
