"""One contrast type and one number formatter: the comparison, the gap test and the ears test
compute their contrasts alike and print their numbers alike."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from rlmdj.analysis.compare import Contrast, RunRecord, contrast, with_holm
from rlmdj.analysis.formatting import number, p_value
from rlmdj.analysis.stats import holm
from rlmdj.analysis.studies.ears import cell_values, ears_contrasts, ears_markdown
from rlmdj.analysis.studies.gap import gap_decomposition, gap_markdown


@pytest.mark.parametrize("args, kwargs, text", [
    ((0.76,), {}, "0.760"),
    ((-0.7561, 2), {}, "-0.76"),
    ((0.14, 2), {"signed": True}, "+0.14"),
    ((-0.76, 2), {"signed": True, "minus": "−"}, "−0.76"),
    ((math.nan,), {}, "–"),
    ((None,), {}, "–"),
    ((-math.inf, 1), {}, "-inf"),
    ((0.000428,), {"style": "g"}, "0.000428"),
    ((1.0,), {"style": "g"}, "1"),
])
def test_number(args, kwargs, text) -> None:
    assert number(*args, **kwargs) == text


def test_p_value() -> None:
    assert [p_value(x) for x in (0.0004, 0.0123, math.nan)] == ["<0.001", "0.012", "–"]
    assert [p_value(x, relation=True) for x in (0.0004, 0.0123)] == ["< 0.001", "= 0.012"]


def test_contrast_pairs_shared_units_and_falls_back_to_welch() -> None:
    a, b = {1: 5.0, 2: 6.0, 3: 5.5}, {1: 4.0, 2: 5.5, 3: 5.0, 9: 1.0}
    paired = contrast(a, b, label="x", baseline="y", metric="proxy/OBJ")
    assert (paired.design, paired.n, paired.baseline) == ("paired", 3, "y")
    assert paired.diff == pytest.approx(2.0 / 3)
    unpaired = contrast({7: 5.0, 8: 6.0}, b, label="x", metric="proxy/OBJ")
    assert (unpaired.design, unpaired.n_a, unpaired.n_b, unpaired.n) == ("unpaired", 2, 4, 2)
    family = with_holm([paired, unpaired], alpha=0.05)
    assert [r.p_adj for r in family] == pytest.approx(holm([paired.p, unpaired.p]))
    assert [r.significant for r in family] == [r.p_adj < 0.05 for r in family]


def _cell(dj: str, bars: int, replica: int, obj: float) -> RunRecord:
    return RunRecord(run_id=f"{dj}-{bars}-{replica}", condition={"dj": dj, "bars": str(bars)},
                     metrics={"proxy/OBJ": obj}, replica=replica)


def test_the_gap_test_reads_as_before() -> None:
    runs = []
    for r in range(4):
        for dj, bars, base in (("reference", 8, 6.0), ("reference", 16, 5.5), ("rlm", 8, 5.0), ("rlm", 16, 4.8)):
            if (dj, bars) == ("rlm", 16) and r > 0 or (dj, bars) == ("reference", 16) and r > 1:
                continue
            runs.append(_cell(dj, bars, r, base + 0.1 * r + (0.05 * r * r if dj == "rlm" else 0)))
    g = gap_decomposition(runs, target_bars=8, alt_bars=16)
    assert all(isinstance(c, Contrast) for c in g.contrasts)
    text = gap_markdown(g)
    assert "| D | rlm · 16 bars | 1 | 4.800 | – | [–, –] |" in text
    assert ("| C-A | DJ decisions at the target length | 4 | yes | -0.825 | [-1.147, -0.503] | 0.004 | "
            "0.004 | **yes** |") in text
    assert "| D-A | total gap | 1 | no | -1.350 | [–, –] | – | – | no |" in text


def test_a_rescored_gap_sweep_is_decomposed_on_one_scorer() -> None:
    runs = []
    for r in range(3):
        for dj, bars, base in (("reference", 8, 6.0), ("reference", 16, 5.5), ("rlm", 8, 5.0), ("rlm", 16, 4.8)):
            run = _cell(dj, bars, r, base + 0.1 * r)
            run.metrics["audiobox/OBJ"] = base / 2 + 0.2 * r  # a rescore wrote a second scorer
            runs.append(run)
    chosen = gap_decomposition(runs, target_bars=8, alt_bars=16, scorer="audiobox")
    assert chosen.metric == "audiobox/OBJ" and chosen.notes == ()
    assert chosen.contrasts[2].diff == pytest.approx((4.8 - 6.0) / 2)
    default = gap_decomposition(runs, target_bars=8, alt_bars=16)
    assert default.metric in {"audiobox/OBJ", "proxy/OBJ"} and len(default.notes) == 1
    assert "runs hold several scorers' metrics" in default.notes[0]
    assert f"Note: {default.notes[0]}" in gap_markdown(default)
    assert gap_decomposition(runs, target_bars=8, alt_bars=16, primary="proxy/OBJ").metric == "proxy/OBJ"


def _run(rid: str, driver: str, replica: int, obj: float, ears: bool = False) -> SimpleNamespace:
    return SimpleNamespace(info=SimpleNamespace(run_id=rid), data=SimpleNamespace(
        tags={"rlmdj.replica": str(replica), "rlmdj.palette_hash": f"p{replica}",
              "rlmdj.config_hash": f"{driver}-{ears}-{replica}"},
        params={"dj.driver": driver, "ears.enabled": str(ears)}, metrics={"proxy/OBJ": obj}))


def test_the_ears_test_reads_as_before() -> None:
    cells = {"reference": [6.1, 5.5, 6.4, 6.5, 6.9, 6.7, 6.6, 6.8],
             "greedy": [6.1, 6.8, 6.7, 6.8, 6.2, 6.4, 6.5, 6.8],
             "random": [4.8, 4.8, 5.6, 6.0, 4.7, 5.0, 4.2, 6.4]}
    runs = [_run(f"{c}{i}", c, i, v) for c, vs in cells.items() for i, v in enumerate(vs)]
    runs.append(_run("lonely", "rlm", 0, 6.0, ears=True))
    metric, values = cell_values(runs)
    contrasts = ears_contrasts(values, metric=metric)
    assert all(isinstance(c, Contrast) and c.design == "paired" for c in contrasts)
    text = ears_markdown(metric, values, contrasts)
    assert "| greedy | 8 | 6.537 |" in text
    assert ("| random - reference | 8 | -1.250 | [-1.899, -0.601] | 0.00263 | 0.00525 | 0.00781 | "
            "lower |") in text
    # One pair: no p-value, written as every report writes a missing number.
    assert "| listening - reference | 1 | -0.100 | [–, –] | – | – | – | too few pairs |" in text
    assert ("| greedy - random | 8 | +1.350 | [+0.839, +1.861] | 0.000428 | 0.00128 | 0.00781 | "
            "higher |") in text
