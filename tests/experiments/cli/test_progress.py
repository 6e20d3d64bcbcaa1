"""Waits report progress: plain lines off a terminal, job k/N across sweep processes."""

from __future__ import annotations

import io
import json

from rlmdj.experiments.cli.progress import Progress, count_jobs, stage_line, sweep_job_done


def test_plain_lines_off_a_terminal_with_eta_and_note():
    out = io.StringIO()
    with Progress("screening palettes", 4, enabled=True, stream=out, every_s=0.0) as p:
        for k in range(1, 5):
            p.update(k, note=f"best OBJ {5 + k:.3f}")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("screening palettes 1/4 · ETA") and "best OBJ 6.000" in lines[0]
    assert lines[-1] == "screening palettes 4/4 · best OBJ 9.000"
    assert len(lines) == 4


def test_plain_lines_are_rate_limited_but_the_last_always_shows():
    out = io.StringIO()
    with Progress("windows", 100, enabled=False, stream=out, every_s=60.0) as p:
        for k in range(1, 101):
            p.update(k)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("windows 1/100") and lines[1] == "windows 100/100"


def test_interrupted_wait_says_where_it_stopped():
    out = io.StringIO()
    with Progress("pack", 10, enabled=False, stream=out, every_s=60.0) as p:
        p.update(1)
        p.update(7)
    assert out.getvalue().splitlines()[-1].startswith("pack 7/10")


def test_stage_lines_and_quiet():
    out = io.StringIO()
    stage_line("scoring with the proxy scorer", stream=out)
    stage_line("hidden", quiet=True, stream=out)
    assert out.getvalue() == "rlmdj: scoring with the proxy scorer\n"


def test_sweep_jobs_count_k_of_n(tmp_path):
    (tmp_path / ".rlmdj_sweep.json").write_text(json.dumps({"n_jobs": count_jobs(["prompt=a,b", "replica=range(0,3)"])}))
    assert [sweep_job_done(tmp_path) for _ in range(3)] == [(1, 6), (2, 6), (3, 6)]
    assert sweep_job_done() is None  # outside a multirun
