"""The root config and its registration in Hydra's ConfigStore."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.config_store import ConfigStore

from rlmdj.config.core import (
    PaletteConfig,
    PathsConfig,
    RenderConfig,
    SamplesConfig,
    TrackingConfig,
)
from rlmdj.config.dj import DJConfig, GuardrailsConfig, ModelConfig, PromptConfig
from rlmdj.config.ears import EarsConfig
from rlmdj.config.experiment import ExperimentConfig
from rlmdj.config.palettes import default_palette_dirs, register_palette_files
from rlmdj.config.scorer import ScorerConfig

__all__ = ["Config", "register_configs", "register_prompt_files"]


@dataclass
class Config:
    """One rlmdj job. Every seed in the run derives from ``replica``."""

    replica: int = 0
    bars: int = 32
    bpm: float = 128.0
    progress: bool = True
    paths: PathsConfig = field(default_factory=PathsConfig)
    samples: SamplesConfig = field(default_factory=SamplesConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    dj: DJConfig = field(default_factory=DJConfig)
    palette: PaletteConfig = field(default_factory=PaletteConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    guardrails: GuardrailsConfig = field(default_factory=GuardrailsConfig)
    ears: EarsConfig = field(default_factory=EarsConfig)
    scorer: ScorerConfig = field(default_factory=ScorerConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)


def register_configs(palette_dirs: list[Path] | None = None) -> None:
    """Register the schema as ``base_config`` (the root of conf/config.yaml's defaults) and the
    palette files in ``palette_dirs`` (default: ``./palettes`` and the shipped ones) as options
    of the ``palette`` group. Idempotent; call again after changing directory."""
    ConfigStore.instance().store(name="base_config", node=Config)
    register_palette_files(default_palette_dirs() if palette_dirs is None else palette_dirs)
    register_prompt_files([Path.cwd() / "prompts"])


def register_prompt_files(dirs: list[Path]) -> list[str]:
    """The prompts ``experiment=optimize_prompt`` wrote (``<name>_opt_<k>.txt`` in ``dirs``) as
    options of the ``prompt`` group: ``prompt=baseline_opt_1`` works with no YAML file."""
    import re

    names: list[str] = []
    for directory in dirs:
        for path in sorted(directory.glob("*_opt_*.txt")) if directory.is_dir() else []:
            if path.stem in names or not re.fullmatch(r".+_opt_\d+", path.stem):
                continue
            node = PromptConfig(name=path.stem, path=str(path.resolve()),
                                description="optimised by experiment=optimize_prompt (see the file's header)")
            ConfigStore.instance().store(group="prompt", name=path.stem, node=node)
            names.append(path.stem)
    return names
