"""experiment=ears_test's report: cells from params, pairing by replica and palette, one run per
configuration, figures checked against scipy on fixed data."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf
from scipy import stats

from rlmdj.analysis.studies.ears import (
    cell_of,
    cell_values,
    contrast_name,
    ears_analysis,
    ears_contrasts,
)

REF = [6.1, 5.5, 6.4, 6.5, 6.9, 6.7, 6.6, 6.8]
GREEDY = [6.1, 6.8, 6.7, 6.8, 6.2, 6.4, 6.5, 6.8]
RANDOM = [4.8, 4.8, 5.6, 6.0, 4.7, 5.0, 4.2, 6.4]


def run(run_id: str, driver: str, replica: int, obj: float, *, ears: bool = False, chash: str | None = None):
    return SimpleNamespace(
        info=SimpleNamespace(run_id=run_id),
        data=SimpleNamespace(
            tags={"rlmdj.replica": str(replica), "rlmdj.palette_hash": f"p{replica}",
                  "rlmdj.config_hash": chash or f"{driver}-{ears}-{replica}"},
            params={"dj.driver": driver, "ears.enabled": str(ears)},
            metrics={"proxy/OBJ": obj, "proxy/CE": obj}))


def runs() -> list:
    out = []
    for cell, values in (("reference", REF), ("greedy", GREEDY), ("random", RANDOM)):
        out += [run(f"{cell}{i}", cell, i, v) for i, v in enumerate(values)]
    return out


class Client:
    def __init__(self, found):
        self.found, self.metrics, self.artifacts = found, {}, []

    def search_runs(self, experiment_ids, filter_string, order_by, max_results):
        return self.found

    def log_artifact(self, run_id, path, folder):
        self.artifacts.append((folder, path))

    def log_metric(self, run_id, key, value):
        self.metrics[key] = value

    def set_tag(self, run_id, key, value):
        self.metrics[key] = value


def test_cells_from_params() -> None:
    assert cell_of({"dj.driver": "greedy"}) == "greedy"
    assert cell_of({"dj.driver": "rlm", "ears.enabled": "True"}) == "listening"
    assert cell_of({"dj.driver": "rlm", "ears.enabled": "False"}) == "deaf"


def test_contrasts_match_scipy_paired_t() -> None:
    metric, values = cell_values(runs())
    assert metric == "proxy/OBJ"
    contrasts = {contrast_name(c): c for c in ears_contrasts(values)}
    assert set(contrasts) == {"random - reference", "greedy - reference", "greedy - random"}
    for name, a, b in (("greedy - reference", GREEDY, REF), ("greedy - random", GREEDY, RANDOM)):
        c, ref = contrasts[name], stats.ttest_rel(a, b)
        ci = ref.confidence_interval()
        assert c.n == 8 and c.design == "paired" and c.p == pytest.approx(ref.pvalue)
        assert (c.ci_low, c.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
        assert c.diff == pytest.approx(sum(a) / 8 - sum(b) / 8)
    ps = sorted(c.p for c in contrasts.values())
    assert min(c.p_adj for c in contrasts.values()) == pytest.approx(min(1.0, 3 * ps[0]))


def test_duplicates_count_once_and_unpaired_replicas_are_left_out() -> None:
    found = [run("newer", "greedy", 0, 9.0, chash="same"), run("older", "greedy", 0, 1.0, chash="same"),
             *runs()[:8], run("lonely", "greedy", 99, 7.0)]
    _, values = cell_values(found)
    assert values["greedy"][(0, "p0")] == 9.0  # the newest run of a configuration counts
    (c,) = ears_contrasts(values)
    assert c.n == 1 and contrast_name(c) == "greedy - reference"  # only replicas both cells played pair
    assert c.design == "paired" and c.detail.n == 1  # the lonely replica 99 is left out, not unpaired


def test_report_is_logged_to_the_parent(tmp_path) -> None:
    client = Client(runs())
    config = OmegaConf.create({"experiment": {"compare": {"alpha": 0.05}}})
    ears_analysis(client, "0", "parent", config, out_dir=tmp_path)
    assert {p.split("/")[-1] for _, p in client.artifacts} == {"ears_test.md", "ears_test.csv"}
    assert client.metrics["ears_test/greedy/n"] == 8
    assert client.metrics["ears_test/greedy_vs_random/delta_OBJ"] > 1
    text = (tmp_path / "ears_test.md").read_text()
    assert "| greedy - random | 8 |" in text and "higher" in text
