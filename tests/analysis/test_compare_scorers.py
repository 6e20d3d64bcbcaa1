"""A comparison is on one scorer: runs may hold several (a rescore adds ``audiobox/*`` beside
``proxy/*``); the one chosen is named, runs without it are excluded by name, NaN scores are
named as such, and the settings are checked before anything is computed."""

from __future__ import annotations

import math
import subprocess
from types import SimpleNamespace

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from mlflow.utils.search_utils import SearchUtils

from rlmdj.analysis.compare import (
    RunRecord,
    choose_scorer,
    compare,
    filter_override,
    record_from_run,
)
from rlmdj.analysis.report import to_markdown
from rlmdj.config.experiment import CompareConfig, check_compare
from rlmdj.errors import ParameterError

AXES = ("OBJ", "CE", "CU", "PC", "PQ")
PROXY = {"reference": [6.62, 7.05, 5.91, 6.48], "random": [5.80, 6.05, 5.30, 5.89]}
AUDIOBOX = {"reference": [5.0, 5.2, 4.9, 5.1], "random": [5.6, 5.9, 5.4, 5.8]}


def scored(prefix: str, obj: float) -> dict[str, float]:
    return {f"{prefix}/{a}": (obj if a == "OBJ" else obj + 0.1 * i) for i, a in enumerate(AXES)}


def run(dj: str, replica: int, *, proxy: float | None = None, audiobox: float | None = None,
        proxy_id: str = "proxy-v1", job: int = 0) -> RunRecord:
    """A sweep child scored in the run by the proxy, and by audiobox if it was rescored."""
    metrics = {**(scored("proxy", proxy) if proxy is not None else {}),
               **(scored("audiobox", audiobox) if audiobox is not None else {})}
    scorers = {"proxy": proxy_id} if proxy is not None else {}
    if audiobox is not None:
        scorers["audiobox"] = "audiobox/http/rms-v1"
    return RunRecord(
        run_id=f"{dj}-{replica}", condition={"dj": dj}, metrics=metrics, scorer=proxy_id, replica=replica,
        job=job + replica, config_hash=f"{dj}-{replica}", palette=f"pal{replica}", palette_hash=f"h{replica}",
        scorers=scorers, rescored=("audiobox",) if audiobox is not None else (),
    )


def rescored_sweep() -> list[RunRecord]:
    return [run(dj, r, proxy=PROXY[dj][r], audiobox=AUDIOBOX[dj][r], job=4 * k)
            for k, dj in enumerate(("reference", "random")) for r in range(4)]


def test_a_rescored_sweep_compares_on_either_scorer() -> None:
    recs = rescored_sweep()
    by_default = compare(recs)
    assert by_default.primary == "proxy/OBJ" and by_default.scorer == "proxy-v1"
    assert by_default.metrics == [f"proxy/{a}" for a in AXES]
    assert any("several scorers' metrics" in n and "experiment.compare.scorer=audiobox" in n
               for n in by_default.notes)
    [t] = by_default.primary_tests()
    assert t.diff == pytest.approx(sum(PROXY["random"]) / 4 - sum(PROXY["reference"]) / 4)

    for chosen in (compare(recs, primary="audiobox/OBJ"), compare(recs, scorer="audiobox")):
        assert chosen.primary == "audiobox/OBJ" and chosen.scorer == "audiobox/http/rms-v1"
        assert all(m.startswith("audiobox/") for m in chosen.metrics)
        [t] = chosen.primary_tests()
        assert t.design == "paired" and t.n == 4
        assert t.diff == pytest.approx(sum(AUDIOBOX["random"]) / 4 - sum(AUDIOBOX["reference"]) / 4)
        assert not any("excluded" in n for n in chosen.notes)
    assert compare(recs, scorer="audiobox", primary="CE").primary == "audiobox/CE"


def test_runs_without_the_chosen_scorer_are_excluded_in_one_line() -> None:
    recs = rescored_sweep() + [run("reference", 4, proxy=6.3), run("random", 4, proxy=5.5)]
    c = compare(recs, primary="audiobox/OBJ")
    [note] = [n for n in c.notes if "excluded" in n]
    assert note == "2 run(s) excluded: not scored by audiobox (they hold proxy only): reference-4, random-4"
    assert sum(len(g.run_ids) for g in c.groups) == 8
    # By default the scorer most runs hold: all ten runs, no exclusion.
    assert compare(recs).primary == "proxy/OBJ"
    assert sum(len(g.run_ids) for g in compare(recs).groups) == 10


def test_the_default_is_the_scorer_most_runs_hold_then_the_one_they_were_played_with() -> None:
    assert choose_scorer(rescored_sweep())[0] == "proxy"  # a tie: the in-run scorer
    mostly_audiobox = [run("reference", r, audiobox=5.0 + r) for r in range(3)] + [run("random", 0, proxy=6.0)]
    prefix, notes = choose_scorer(mostly_audiobox)
    assert prefix == "audiobox" and "audiobox (3 runs), proxy (1 run)" in notes[0]
    assert choose_scorer([run("random", 0, proxy=6.0)]) == ("proxy", [])


def test_unknown_or_conflicting_scorer_settings_name_the_key() -> None:
    recs = rescored_sweep()
    with pytest.raises(ParameterError, match=r"experiment.compare.scorer=modal: no run was scored by 'modal'; "
                                             r"scorers in these runs: audiobox \(8 runs\), proxy \(8 runs\)"):
        compare(recs, scorer="modal")
    with pytest.raises(ParameterError, match="experiment.compare.primary=xx/OBJ: no run was scored by 'xx'"):
        compare(recs, primary="xx/OBJ")
    with pytest.raises(ParameterError, match="experiment.compare.scorer=audiobox but experiment.compare.primary"):
        compare(recs, scorer="audiobox", primary="proxy/OBJ")


def _through_bash_and_hydra(override: str) -> str:
    """What MLflow receives when ``override`` is typed in bash: bash words, then Hydra's parser."""
    words = subprocess.run(["bash", "-c", f"printf '%s\\0' {override}"], capture_output=True, text=True,
                           check=True).stdout.split("\0")[:-1]
    assert len(words) == 1, words  # one shell word: nothing split, nothing run
    parsed = OverridesParser.create().parse_override(words[0])
    assert parsed.key_or_group == "experiment.compare.filter"
    return str(parsed.value())


def test_different_identities_of_one_scorer_are_refused_with_filters_that_work_as_typed() -> None:
    recs = rescored_sweep()
    recs[-1] = run("random", 3, proxy=5.89, proxy_id="proxy-v2", job=4)
    with pytest.raises(ParameterError, match="different proxy scorers") as info:
        compare(recs)
    message = str(info.value)
    assert "\n" not in message
    commands = [part.split(": ", 1)[1] for part in message.split("e.g. with ", 1)[1].split("; ")]
    assert len(commands) == 2
    for command, identity in zip(commands, ("proxy-v1", "proxy-v2"), strict=True):
        where = _through_bash_and_hydra(command)
        [clause] = SearchUtils.parse_search_filter(where)
        assert clause == {"type": "tag", "key": "rlmdj.scorer_identity", "comparator": "=", "value": identity}
    # A rescored prefix is filtered by the rescore's tag.
    where = _through_bash_and_hydra(filter_override("rlmdj.rescored.audiobox", "audiobox/http/rms-v1"))
    assert SearchUtils.parse_search_filter(where)[0]["key"] == "rlmdj.rescored.audiobox"


def test_a_nan_score_is_named_as_such_paired_and_store_wide() -> None:
    recs = rescored_sweep()
    recs[5] = run("random", 1, proxy=math.nan, audiobox=5.9, job=4)
    c = compare(recs)
    [t] = c.primary_tests()
    assert t.design == "paired" and t.n == 3
    assert t.set_aside == []  # replica 1 has a partner; its score is what is missing
    [note] = [n for n in c.notes if "NaN" in n]
    assert note.startswith("1 run(s) left out of proxy/OBJ: OBJ is NaN") and "random-1 (dj=random; replica 1)" in note
    assert "no partner" not in to_markdown(c)
    # Store-wide, unpaired (no shared replicas): the same note, not a silent drop.
    wide = [run("reference", r, proxy=v) for r, v in enumerate(PROXY["reference"])]
    wide += [run("random", 10 + r, proxy=v) for r, v in enumerate(PROXY["random"])]
    wide[-1] = run("random", 13, proxy=math.nan)
    c = compare(wide)
    [t] = c.primary_tests()
    assert t.design == "unpaired" and (t.n_a, t.n_b) == (3, 4)
    assert any(n.startswith("1 run(s) left out of proxy/OBJ: OBJ is NaN") and "random-13" in n for n in c.notes)


@pytest.mark.parametrize(("key", "value"), [
    ("alpha", 0.0), ("alpha", 1.0), ("alpha", -0.1), ("alpha", math.nan), ("power", 1.0), ("power", 0.0),
    ("delta", 0.0), ("delta", -1.0), ("delta", math.inf), ("max_inline_mb", -1.0), ("test", "z"),
    ("unit", "run"),
])
def test_settings_out_of_range_are_one_line_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ParameterError, match=rf"^experiment\.compare\.{key} must be .*, got .* "
                                             rf"\(e\.g\. experiment\.compare\.{key}=\S+\)$"):
        check_compare(CompareConfig(**{key: value}))
    if key != "max_inline_mb":  # a report setting, not an argument of compare()
        with pytest.raises(ParameterError, match=rf"experiment\.compare\.{key} must be"):
            compare(rescored_sweep(), **{key: value})  # type: ignore[arg-type]


def test_settings_in_range_pass() -> None:
    check_compare(CompareConfig())
    check_compare(CompareConfig(alpha=0.001, power=0.99, delta=0.01, max_inline_mb=0.0, test="rank",
                                unit="palette"))


def test_a_record_knows_which_scorer_wrote_each_prefix() -> None:
    tags = {"rlmdj.scorer": "proxy", "rlmdj.scorer_identity": "proxy-v1",
            "rlmdj.rescored.audiobox": "audiobox/http/rms-v1", "rlmdj.cond.dj": "random"}
    mlflow_run = SimpleNamespace(
        info=SimpleNamespace(run_id="r1", status="FINISHED", start_time=1),
        data=SimpleNamespace(tags=tags, params={}, metrics={**scored("proxy", 6.0), **scored("audiobox", 5.0)}),
    )
    r = record_from_run(mlflow_run)
    assert r.prefixes == ["audiobox", "proxy"] and r.scorer == "proxy-v1"
    assert r.identity("proxy") == "proxy-v1" and r.identity("audiobox") == "audiobox/http/rms-v1"
    assert r.identity_tag("audiobox") == "rlmdj.rescored.audiobox"
    assert r.identity_tag("proxy") == "rlmdj.scorer_identity"


@pytest.mark.parametrize("tags, heard", [
    ({"dj.ears_scorer": "proxy-v1"}, "proxy-v1"),
    ({"rlmdj.ears_scorer": "proxy-v1"}, "proxy-v1"),  # a greedy run stored before the rename
    ({"dj.ears_scorer": "proxy-v2", "rlmdj.ears_scorer": "proxy-v1"}, "proxy-v2"),
    ({}, None),
])
def test_a_record_names_the_ears_scorer_under_either_tag(tags, heard) -> None:
    mlflow_run = SimpleNamespace(info=SimpleNamespace(run_id="r1", status="FINISHED", start_time=1),
                                 data=SimpleNamespace(tags=tags, params={}, metrics=scored("proxy", 6.0)))
    assert record_from_run(mlflow_run).ears_scorer == heard
