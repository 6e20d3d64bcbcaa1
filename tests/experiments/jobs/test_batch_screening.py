"""Screening with scorer=http sends its palettes in batches (``scorer.max_batch_sets`` per
``POST /score_batch``); a palette the server cannot score is left out on its own."""

from __future__ import annotations

import pytest
from rms_scorer import RmsScorer

from rlmdj.scoring.serving.server import ServerThread, create_app
from rlmdj.scoring.serving.service import ScoringService

pytestmark = [pytest.mark.slow, pytest.mark.scale]  # a server on 127.0.0.1, several renders


def _screen(compose_cfg, url: str, n: int):
    from rlmdj.experiments.jobs.screen import score_palettes

    cfg = compose_cfg("experiment=screen_palettes", "scorer=http", f"scorer.url={url}", "scorer.cache=false",
                      "scorer.max_batch_sets=3", "experiment.screen.bars=4", "experiment.screen.seed=7")
    return score_palettes(cfg, n=n, workers=1)


def test_screening_scores_palettes_in_batches(compose_cfg, sample_index):
    scorer = RmsScorer()
    with ServerThread(create_app(ScoringService(scorer))) as srv:
        rows = _screen(compose_cfg, srv.url, n=7)
    assert scorer.batches == [3, 3, 1]
    assert len(rows) == 7 and [r.rank for r in rows] == list(range(1, 8))
    assert [r.obj for r in rows] == sorted((r.obj for r in rows), reverse=True)


def test_a_palette_the_server_cannot_score_fails_alone(compose_cfg, sample_index, capsys):
    probe = RmsScorer()
    with ServerThread(create_app(ScoringService(probe))) as srv:
        full = _screen(compose_cfg, srv.url, n=4)
    # Make the loudest palette break the model: only it is missing from the ranking.
    loudest = full[0]
    threshold = max(r.scores["CE"] for r in full[1:])
    assert threshold < loudest.scores["CE"]
    with ServerThread(create_app(ScoringService(RmsScorer(fail_ce_above=threshold)))) as srv:
        rows = _screen(compose_cfg, srv.url, n=4)
    assert sorted(r.name for r in rows) == sorted(r.name for r in full[1:])
    assert [r.obj for r in rows] == [r.obj for r in full[1:]]
    err = capsys.readouterr().err
    assert f"palette {loudest.name} not scored" in err and "breaks the model" in err
