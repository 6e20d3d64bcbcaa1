"""Screening writes new curated files without touching old ones; random DJ is seeded; run card."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_dir

from rlmdj.config import register_configs, register_resolvers
from rlmdj.experiments.assemble import bundled_dir
from rlmdj.tracking.record.run_card import build_run_card


def _cfg(tmp_path, *overrides):
    register_resolvers()
    register_configs()
    with initialize_config_dir(str(bundled_dir("conf")), version_base="1.3"):
        return compose("config", overrides=[f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}/out",
                                            f"tracking.uri=sqlite:///{tmp_path}/m.db", "progress=false",
                                            f"tracking.artifact_location={tmp_path}/art", *overrides])


@pytest.mark.slow  # screening end to end
def test_screening_adds_curated_files_and_keeps_existing(tmp_path) -> None:
    from rlmdj.experiments.jobs.screen import screen_palettes

    curated = tmp_path / "palettes" / "curated"
    curated.mkdir(parents=True)
    existing = curated / "palette_001.json"
    existing.write_text('{"name": "palette_001", "samples": {"kick": "kick-00"}}\n')
    before = existing.read_bytes()
    cfg = _cfg(tmp_path, "experiment=screen_palettes", "experiment.screen.n=4", "experiment.screen.top_k=2",
               "experiment.screen.bars=8", "experiment.screen.workers=1")
    rows, saved, run_id = screen_palettes(cfg)
    assert [r.rank for r in rows] == [1, 2, 3, 4] and rows[0].obj >= rows[-1].obj
    assert existing.read_bytes() == before
    assert [p.name for p in saved] == ["palette_002.json", "palette_003.json"]
    meta = json.loads(saved[0].read_text())["meta"]
    assert meta["screening_run_id"] == run_id and meta["OBJ"] == rows[0].obj
    assert [r.curated for r in rows[:3]] == ["palette_002", "palette_003", ""]
    rows2, saved2, _ = screen_palettes(cfg)  # a second screening never overwrites the first...
    assert [p.name for p in saved2] == ["palette_004.json", "palette_005.json"]
    # ...and draws new palettes (the seed continues after the curated ones), not the same ones.
    assert {r.name for r in rows2}.isdisjoint({r.name for r in rows})
    assert json.loads(saved2[0].read_text())["meta"]["screened_as"].startswith("screen-s1-")
    # Screening a seed again saves no duplicates; the ranking names the file that has the palette.
    rows3, saved3, _ = screen_palettes(_cfg(tmp_path, "experiment=screen_palettes", "experiment.screen.n=4",
                                            "experiment.screen.top_k=2", "experiment.screen.bars=8",
                                            "experiment.screen.workers=1", "experiment.screen.seed=0"))
    assert saved3 == [] and [r.curated for r in rows3[:2]] == ["= palette_002", "= palette_003"]
    assert sorted(p.name for p in curated.iterdir()) == [f"palette_00{i}.json" for i in range(1, 6)]


def test_random_driver_is_seeded_by_replica(tmp_path) -> None:
    from rlmdj.dj.drivers.registry import build_driver
    from rlmdj.experiments.assemble import load_index, make_session, resolve_palette

    def moves(replica: int) -> list:
        cfg = _cfg(tmp_path, "dj=random", "bars=16", f"replica={replica}")
        index = load_index(cfg)
        session = make_session(cfg, index, resolve_palette(cfg, index))
        driver = build_driver(cfg)
        driver.perform(session)
        assert session.finished
        return json.loads(driver.report().artifacts["dj/moves.json"])

    assert moves(0) == moves(0)
    assert moves(0) != moves(1)


def test_run_card_is_self_contained() -> None:
    html = build_run_card(
        title="t", metrics={"proxy/OBJ": 6.5}, preview=b"OggS...", timeline_png=b"\x89PNG",
        windows=[{"start_s": 0, "duration_s": 10, "scores": {"CE": 6, "CU": 7, "PC": 5, "PQ": 7}},
                 {"start_s": 10, "duration_s": 5, "scores": {"CE": 4, "CU": 7, "PC": 5, "PQ": 7}}],
        weights={"CE": 0.6, "CU": 0.05, "PC": 0.05, "PQ": 0.3},
        decisions=[{"bar": 4, "kind": "tool", "text": "add('hihat', 0.5)"}, {"bar": 0, "kind": "mixer", "text": "+ kick"}],
    )
    assert "data:audio/ogg;base64," in html and "data:image/png;base64," in html and "<svg" in html
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert html.index("+ kick") < html.index("add(&#x27;hihat&#x27;, 0.5)")
    assert "class='low'" in html
