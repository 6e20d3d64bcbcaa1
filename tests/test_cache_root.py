"""One cache root: the sample pack, the score cache and the config resolver agree on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rlmdj.audio.pack import pack_dir
from rlmdj.config.resolvers import default_cache_dir
from rlmdj.config.scorer import ScorerConfig
from rlmdj.resources import CACHE_DIR_ENV, cache_root


def _scorer_cache_dir() -> Path:
    return Path(OmegaConf.to_object(OmegaConf.structured(ScorerConfig)).cache_dir)


def test_every_user_follows_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    assert cache_root() == tmp_path
    assert pack_dir(None, 0, 16).parent == tmp_path
    assert Path(default_cache_dir()) == tmp_path
    assert _scorer_cache_dir() == tmp_path / "scores"


@pytest.mark.parametrize("value", [None, ""])
def test_unset_or_empty_means_the_home_cache(monkeypatch, tmp_path, value) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    if value is None:
        monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    else:
        monkeypatch.setenv(CACHE_DIR_ENV, value)
    expected = tmp_path / ".cache" / "rlmdj"
    assert cache_root() == expected
    assert pack_dir(None, 3, 4) == expected / "pack-v1-seed3-n4"
    assert _scorer_cache_dir() == expected / "scores"


def test_tilde_is_expanded(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(CACHE_DIR_ENV, "~/elsewhere")
    assert cache_root() == tmp_path / "elsewhere"
    assert _scorer_cache_dir() == tmp_path / "elsewhere" / "scores"
