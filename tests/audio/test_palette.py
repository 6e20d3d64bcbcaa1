"""Palettes: seeded role-correct draws, validation that lists choices, safe saving, clear loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlmdj.audio.palette import (
    Palette,
    find_palette,
    list_palettes,
    random_palette,
    validate_palette,
)
from rlmdj.audio.samples import DEFAULT_ROLES, LOOP_ROLES, SampleIndex
from rlmdj.errors import ParameterError

REPO_PALETTES = Path(__file__).resolve().parents[2] / "palettes"


def test_random_palette_is_role_correct_and_seeded(sample_index: SampleIndex) -> None:
    first = random_palette(sample_index, seed=11)
    assert list(first.samples) == list(DEFAULT_ROLES)
    for role, sid in first.samples.items():
        info = sample_index.get(sid)
        assert info.role == role
        assert info.kind == ("loop" if role in LOOP_ROLES else "oneshot")
    assert random_palette(sample_index, seed=11) == first
    draws = {random_palette(sample_index, seed=s).sha256 for s in range(10)}
    assert len(draws) >= 9
    validate_palette(first, sample_index)


def test_adding_a_role_keeps_the_other_picks(sample_index: SampleIndex) -> None:
    six = random_palette(sample_index, seed=5)
    seven = random_palette(sample_index, seed=5, roles=[*DEFAULT_ROLES, "synth"], name="with-synth")
    assert {r: seven.samples[r] for r in DEFAULT_ROLES} == six.samples
    assert seven.name == "with-synth" and six.name == "random-5" and six.meta["seed"] == 5


def test_random_palette_needs_an_eligible_sample() -> None:
    with pytest.raises(ParameterError, match="no loop sample with role 'bassline'"):
        random_palette(SampleIndex([]), roles=["bassline"], seed=0)
    with pytest.raises(ParameterError, match="unknown role"):
        random_palette(SampleIndex([]), roles=["vocals"], seed=0)


def test_validation_lists_valid_choices(sample_index: SampleIndex) -> None:
    bad = Palette("bad", {"kick": "kick-99", "hihat": "clap-00", "texture": "kick-00"})
    with pytest.raises(ParameterError) as err:
        validate_palette(bad, sample_index)
    text = str(err.value)
    assert "kick-99" in text and "valid oneshots for kick: kick-00" in text
    assert "'clap-00' is a clap sample" in text and "hihat-00" in text
    assert "valid loops for texture: texture-00" in text


def test_a_one_shot_in_a_loop_slot_is_refused(tmp_path: Path, sample_index: SampleIndex) -> None:
    import numpy as np
    import soundfile as sf

    from rlmdj.audio.samples import SampleInfo

    path = tmp_path / "bass_hit.wav"
    sf.write(path, np.zeros((4410, 2), dtype=np.float32), 44100)
    hit = SampleInfo(
        id="user:bassline-bass-hit-000000", role="bassline", kind="oneshot", bars=None, bpm=None,
        duration_s=0.1, sr=44100, channels=2, sha256="0" * 64, source="user", character="user", path=str(path),
    )  # fmt: skip
    index = SampleIndex([*sample_index, hit])
    with pytest.raises(ParameterError, match="is a oneshot but bassline needs a loop") as err:
        validate_palette(Palette("p", {"bassline": hit.id}), index)
    assert "bassline-00" in str(err.value) and hit.id not in str(err.value).split("valid loops")[1]


def test_save_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    palette = Palette("mine", {"kick": "kick-00"}, {"note": "first"})
    path = palette.save(tmp_path)
    assert path == tmp_path / "mine.json"
    with pytest.raises(ParameterError, match="exists"):
        Palette("mine", {"kick": "kick-02"}).save(path)
    assert Palette.load(path) == palette
    Palette("mine", {"kick": "kick-02"}).save(path, overwrite=True)
    assert Palette.load(path).samples == {"kick": "kick-02"}
    assert (
        Palette("x", {"kick": "kick-00"}).save(tmp_path / "sub" / "x2")
        == tmp_path / "sub" / "x2.json"
    )


def test_hash_covers_samples_only() -> None:
    a = Palette("a", {"kick": "kick-00", "hihat": "hihat-02"}, {"seed": 1})
    b = Palette("b", {"hihat": "hihat-02", "kick": "kick-00"})
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    assert a.sha256 != Palette("a", {"kick": "kick-02", "hihat": "hihat-02"}).sha256
    assert json.loads(a.to_json()) == {"name": "a", "samples": a.samples, "meta": {"seed": 1}}
    assert hash(a) != hash(b) or a != b  # hashable despite holding dicts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name": "x", "samples": {"kick": ', "not valid JSON"),
        ('{"name": "x"}', 'needs a "samples" object'),
        ('["kick-00"]', 'needs a "samples" object'),
        ('{"samples": {"kick": 3}}', "map role names to sample ids"),
    ],
)
def test_load_errors_are_clear(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(ParameterError, match=message):
        Palette.load(path)


def test_load_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="nothere.json"):
        Palette.load(tmp_path / "nothere.json")


def test_find_and_list_palettes_search_curated_too(tmp_path: Path) -> None:
    Palette("house", {"kick": "kick-00"}).save(tmp_path)
    Palette("top01", {"kick": "kick-02"}).save(f"{tmp_path}/curated/")
    assert list_palettes([tmp_path]) == {
        "house": tmp_path / "house.json",
        "curated/top01": tmp_path / "curated" / "top01.json",
    }
    assert find_palette("house", [tmp_path]) == tmp_path / "house.json"
    assert find_palette("top01", [tmp_path]) == tmp_path / "curated" / "top01.json"
    assert find_palette("curated/top01", [tmp_path]) == tmp_path / "curated" / "top01.json"
    assert find_palette(str(tmp_path / "house.json"), []) == tmp_path / "house.json"
    with pytest.raises(ParameterError, match="available: house, curated/top01"):
        find_palette("techno", [tmp_path])


def test_shipped_example_palettes_use_clean_builtin_samples(sample_index: SampleIndex) -> None:
    names = list_palettes([REPO_PALETTES])
    assert "example" in names
    for name in ("example", "example_synth"):
        palette = Palette.load(find_palette(name, [REPO_PALETTES]))
        validate_palette(palette, sample_index)
        assert {sample_index.get(i).character for i in palette.samples.values()} == {"clean"}
