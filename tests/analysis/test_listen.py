"""The listening room: one column per condition, paired rows aligned, self-contained, audio capped."""

from __future__ import annotations

import re

from rlmdj.analysis.compare import RunRecord, compare
from rlmdj.analysis.listen import Cell, build_listen_page, condition_curves


def _records() -> list[RunRecord]:
    out = []
    for j, (cond, base) in enumerate((("reference", 6.5), ("random", 5.8))):
        for r in range(3):
            if cond == "random" and r == 2:
                continue  # an incomplete pair: its row shows a gap
            out.append(RunRecord(run_id=f"{cond}{r}", condition={"dj": cond}, replica=r, job=j * 3 + r,
                                 metrics={"proxy/OBJ": base + 0.1 * r}, scorer="proxy-v1",
                                 palette=f"pal{r}", palette_hash=f"h{r}", config_hash=f"{cond}{r}"))
    return out


def _cells(c, audio_bytes: int) -> dict[str, Cell]:
    windows = [{"start_s": 10.0 * i, "duration_s": 10.0, "scores": {"CE": 6.0 + i, "PQ": 7.0}} for i in range(6)]
    return {rid: Cell(run_id=rid, obj=6.0, audio=b"O" * audio_bytes, mime="audio/ogg", windows=windows,
                      weights={"CE": 0.5, "PQ": 0.5})
            for g in c.groups for rid in g.run_ids}


def test_grid_rows_are_units_and_columns_are_conditions() -> None:
    c = compare(_records())
    page = build_listen_page(c, _cells(c, 100), seconds_per_bar=1.875)
    header = re.search(r"<tr><th>unit</th>(.*?)</tr>", page).group(1)
    assert header.index("dj=reference (baseline)") < header.index("dj=random")
    rows = re.findall(r"<tr( class=unpaired)?><th>(replica \d \(pal\d\))</th>", page)
    assert [name for _, name in rows] == ["replica 0 (pal0)", "replica 1 (pal1)", "replica 2 (pal2)"]
    assert [bool(cls) for cls, _ in rows] == [False, False, True]  # replica 2 has no random run
    assert page.count("data:audio/ogg;base64,") == 5 and page.count("OBJ 6.000") == 5
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")


def test_curves_have_seconds_and_bars_and_one_line_per_condition() -> None:
    c = compare(_records())
    cells = _cells(c, 10)
    curves = condition_curves(c, cells)
    assert list(curves) == ["dj=reference", "dj=random"]
    assert curves["dj=reference"][0] == (5.0, 0.5 * 6.0 + 0.5 * 7.0)
    page = build_listen_page(c, cells, seconds_per_bar=1.875)
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count("<polyline") == 2 and ">seconds<" in svg and ">bar<" in svg


def test_inline_audio_is_capped_and_the_rest_is_linked_by_run_id() -> None:
    c = compare(_records())
    page = build_listen_page(c, _cells(c, 1000), max_inline_bytes=2500, experiment_id="7")
    assert page.count("data:audio/ogg;base64,") == 2
    assert page.count("not embedded (size cap)") == 3
    assert "#/experiments/7/runs/random1" in page and "3 preview(s) beyond the inline cap" in page


def _store_with_runs(tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    exp = client.create_experiment("listen", artifact_location=(tmp_path / "art dir ü").as_uri())
    runs = {}
    for cond, preview in (("reference", b"OggS\x00preview-a"), ("random", None)):
        for r in range(2):
            run = client.create_run(exp, tags={"rlmdj.palette": f"pal{r}"})
            rid = run.info.run_id
            client.log_metric(rid, "proxy/OBJ", 6.0 + r)
            client.log_param(rid, "bpm", "128")
            if preview is not None:
                client.log_text(rid, (preview + rid.encode()).decode("latin-1"), "audio/preview.ogg")
            if r == 0:  # the second run of each condition has no scores.json
                client.log_dict(rid, {"windows": [{"start_s": 0.0, "duration_s": 10.0,
                                                   "scores": {"OBJ": 6.5}}], "weights": {}}, "scores.json")
            client.set_terminated(rid)
            runs[rid] = (cond, r)
    return client, runs


def test_gather_cells_reads_a_local_store_in_place_as_a_download_would(tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from rlmdj.analysis import listen

    client, runs = _store_with_runs(tmp_path)
    groups = [SimpleNamespace(label=cond, run_ids=[rid for rid, (c, _) in runs.items() if c == cond])
              for cond in ("reference", "random")]
    comparison = SimpleNamespace(groups=groups, primary="proxy/OBJ")
    in_place, spb = listen.gather_cells(client, comparison, tmp_path / "in-place")
    assert not (tmp_path / "in-place").exists()  # nothing was copied
    monkeypatch.setattr(listen, "_local_artifacts", lambda uri: None)
    downloaded, spb_downloaded = listen.gather_cells(client, comparison, tmp_path / "downloaded")
    assert spb == spb_downloaded == 240.0 / 128
    assert in_place == downloaded and list(in_place) == list(runs)
    for rid, (cond, r) in runs.items():
        cell = in_place[rid]
        assert cell.obj == 6.0 + r and cell.palette == f"pal{r}"
        assert cell.audio == ((b"OggS\x00preview-a" + rid.encode()) if cond == "reference" else None)
        assert len(cell.windows) == (1 if r == 0 else 0)


def test_local_artifacts_is_only_a_folder_on_this_disk(tmp_path) -> None:
    from rlmdj.analysis.listen import _local_artifacts

    folder = tmp_path / "a b%20c ü"
    folder.mkdir()
    assert _local_artifacts(folder.as_uri()) == folder
    assert _local_artifacts(str(folder)) == folder
    assert _local_artifacts((tmp_path / "none logged").as_uri()) == tmp_path / "none logged"
    for remote in ("mlflow-artifacts:/1/abc/artifacts", "s3://bucket/1/abc", "http://host/x", "file://other-host/x"):
        assert _local_artifacts(remote) is None
