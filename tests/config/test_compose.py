"""Every config the project ships composes through the compose API, as the CLI composes it.

In the spirit of lightning-hydra-template's tests/test_sweeps.py: each ``conf/experiment/*``
overlay, and each option of each config group, composed in one parametrised test. Also: group
files hold only what differs from the schema, so a default is changed in one place.
"""

from __future__ import annotations

import importlib.util
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from rlmdj.config import Config, register_configs
from rlmdj.resources import bundled_dir

CONF = bundled_dir("conf")
assert CONF is not None
register_configs()

# Launcher/sweeper options that extend a Hydra plugin's config (composable where it is installed).
PLUGINS = {
    "joblib_local": "hydra_plugins.hydra_joblib_launcher",
    "ray": "hydra_plugins.rlmdj_ray_launcher",
    "slurm": "hydra_plugins.hydra_submitit_launcher",
}

# Keys that name an option (its identity) may repeat the schema's default value.
IDENTITY_KEYS = {"name", "driver", "source"}


def _options(group: str) -> list[str]:
    files = sorted(p.stem for p in (CONF / group).glob("*.yaml"))
    stored = ConfigStore.instance().repo.get(group, {}) if "/" not in group else {}
    return sorted({*files, *(k.removesuffix(".yaml") for k in stored if k.endswith(".yaml"))})


def _groups() -> list[str]:
    top = [p.name for p in sorted(CONF.iterdir()) if p.is_dir() and p.name != "hydra"]
    return [*top, *(f"hydra/{p.name}" for p in sorted((CONF / "hydra").iterdir()) if p.is_dir())]


CASES = [(group, option) for group in _groups() for option in _options(group)]


def _compose(*overrides: str, hydra_cfg: bool = False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra_cfg)


def test_every_group_has_options():
    groups = _groups()
    assert {"dj", "experiment", "guardrails", "model", "palette", "prompt", "scorer"} <= set(groups)
    assert {"example"} <= set(_options("palette"))  # palette files, registered with the schema
    assert len(CASES) > 30


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_every_option_of_every_group_composes(group: str, option: str):
    if group.startswith("hydra/"):
        plugin = PLUGINS.get(option)
        if plugin is not None and importlib.util.find_spec(plugin) is None:
            pytest.skip(f"{group}={option} needs the Hydra plugin {plugin}, not installed here")
        cfg = _compose(f"{group}={option}", hydra_cfg=True)
        assert OmegaConf.select(cfg, "hydra." + group.split("/", 1)[1]) is not None
        return
    cfg = _compose(f"{group}={option}")
    # Validated against the schema and fully resolvable (what a job reads).
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    if group == "experiment":
        assert cfg.experiment.name
    elif group in ("dj", "model", "prompt", "guardrails", "scorer", "palette"):
        assert str(cfg[group].name) == option or group == "palette"


def test_the_compose_api_finds_palette_files_like_the_cli():
    cfg = _compose("experiment=ab")
    assert cfg.palette.name == "example" and cfg.palette.source == "file"
    assert Path(cfg.palette.path).is_file()
    assert cfg.dj.name == "random" and cfg.dj.driver == "random"


@pytest.mark.parametrize("name", ["random", "reference", "rlm"])
def test_dj_options_name_their_driver(name: str):
    cfg = _compose(f"dj={name}")
    assert cfg.dj.name == name and cfg.dj.driver == name


def test_job_settings_live_under_experiment():
    cfg = _compose("experiment=serve", "experiment.serve.port=9001")
    assert cfg.experiment.serve.port == 9001 and "serve" not in cfg
    cfg = _compose("experiment=replay", "experiment.replay.transcript=t.json")
    assert cfg.experiment.replay.transcript == "t.json" and "replay" not in cfg


def _schema_defaults(schema: object) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(schema), resolve=False)  # type: ignore[return-value]


def _repeated_defaults(values: dict, defaults: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        if key not in defaults or key in IDENTITY_KEYS:
            continue
        if isinstance(value, dict) and isinstance(defaults[key], dict):
            out += _repeated_defaults(value, defaults[key], f"{prefix}{key}.")
        elif value == defaults[key] and value is not None and not isinstance(value, dict | list):
            out.append(f"{prefix}{key}={value!r}")
    return out


SCHEMAS = {f.name: f.default_factory for f in fields(Config) if is_dataclass(f.default_factory)}
GROUP_FILES = [p for group in SCHEMAS for p in sorted((CONF / group).glob("*.yaml"))] if CONF else []


@pytest.mark.parametrize("path", GROUP_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_group_files_hold_only_what_differs_from_the_schema(path: Path):
    values = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    values.pop("defaults", None)
    defaults = _schema_defaults(SCHEMAS[path.parent.name])
    if path.parent.name == "experiment":  # overlays are global: compare their experiment.* keys
        values = values.get("experiment", {}) or {}
        values.pop("name", None)
    repeated = _repeated_defaults(values, defaults)
    assert not repeated, f"{path.name} repeats schema defaults (delete them): {repeated}"


def test_root_config_holds_no_values_only_the_defaults_list():
    root = OmegaConf.to_container(OmegaConf.load(CONF / "config.yaml"), resolve=False) or {}
    assert set(root) == {"defaults"}, f"conf/config.yaml sets {sorted(set(root) - {'defaults'})}: put defaults in the schema"
    cfg = _compose()
    assert (cfg.replica, cfg.bars, cfg.bpm, cfg.progress) == (0, 32, 128.0, True)
