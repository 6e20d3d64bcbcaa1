"""Briefs: a palette, a set length and a seed, dealt into train, validation and held-out sets
with no palette in two sets; the same seed deals the same sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlmdj.config.optimize import OptimizeConfig
from rlmdj.errors import ParameterError
from rlmdj.optimize.briefs import Brief, Splits, brief_overrides, draw_briefs, needed_palettes


def files(n: int) -> list[Path]:
    return [Path(f"/p/pal_{i:02d}.json") for i in range(n)]


def test_sets_are_disjoint_sized_and_repeatable():
    s = OptimizeConfig(n_train=4, n_val=3, n_heldout=2, bars=16, seed=7)
    a, b = draw_briefs(files(12), s), draw_briefs(list(reversed(files(12))), s)
    assert a == b  # the order the files came in does not matter
    assert (len(a.train), len(a.val), len(a.heldout)) == (4, 3, 2)
    names = [x.palette for x in (*a.train, *a.val, *a.heldout)]
    assert len(set(names)) == len(names) == needed_palettes(s)
    assert {x.bars for x in a.train} == {16}
    assert draw_briefs(files(12), OptimizeConfig(n_train=4, n_val=3, n_heldout=2, seed=8)) != a


def test_too_few_palettes_names_the_key():
    with pytest.raises(ParameterError, match=r"experiment\.optimize\.palettes: 5 palettes.*need 6"):
        draw_briefs(files(5), OptimizeConfig(n_train=2, n_val=2, n_heldout=2))


def test_splits_survive_their_json():
    s = draw_briefs(files(6), OptimizeConfig(n_train=2, n_val=2, n_heldout=2))
    assert Splits.from_json(s.to_json()) == s


def test_a_brief_plays_its_palette_file_at_its_length_with_a_seed_per_replica():
    b = Brief("pal_01", "/p/pal_01.json", 24, 1234)
    o0, o1 = brief_overrides(b, 0), brief_overrides(b, 1)
    assert o0["palette"] == {"source": "file", "name": "pal_01", "path": "/p/pal_01.json"}
    assert o0["bars"] == 24 and o0["replica"] != o1["replica"]
    assert brief_overrides(b, 1) == o1
    assert b.id == "pal_01/24b/s1234"


def test_named_palettes_are_found_and_a_duplicate_refused(compose_cfg, tmp_path, sample_index):
    from rlmdj.audio.palette import random_palette
    from rlmdj.optimize.briefs import palette_files

    folder = tmp_path / "palettes"
    for i in range(2):
        random_palette(sample_index, seed=i, name=f"q{i}").save(folder / f"q{i}.json")
    cfg = compose_cfg()
    got = palette_files(cfg, OptimizeConfig(palettes=["q0", str(folder / "q1.json")]))
    assert [p.stem for p in got] == ["q0", "q1"]
    with pytest.raises(ParameterError, match="twice"):
        palette_files(cfg, OptimizeConfig(palettes=["q0", "q0"]))
