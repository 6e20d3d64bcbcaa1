"""The pending record on disk and what reads it: whole lines only, in order; an upload of a
folder that is not a record is one line and exit 2; commands that cannot record start no writer."""

from __future__ import annotations

import pytest

from rlmdj.tracking.writer.journal import Journal
from rlmdj.tracking.writer.process import wants_writer
from rlmdj.tracking.writer.upload import main as upload_main


def test_journal_reads_what_was_appended_once_and_in_order(tmp_path):
    journal = Journal.create(tmp_path)
    assert journal.folder.name.startswith("record-pending-") and journal.artifacts.is_dir()
    assert journal.append({"op": "batch", "params": {"a": "1"}}) == 1
    assert journal.append({"op": "end", "status": "FINISHED", "odd": object()}) == 2
    reader = Journal(journal.folder)
    first = reader.read(1)
    assert first == [{"op": "batch", "params": {"a": "1"}}]
    (rest,) = reader.read()
    assert rest["status"] == "FINISHED" and isinstance(rest["odd"], str)
    assert reader.read() == []
    with journal.path.open("a") as f:
        f.write('{"op": "half')  # a line still being written is not read
    assert reader.read() == []


def test_upload_of_a_folder_that_is_no_record_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        upload_main([str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path) in err[0] and "journal.jsonl" in err[0]


@pytest.mark.parametrize(("argv", "wanted"), [
    ([], True), (["bars=8", "-m", "replica=0,1"], True), (["tracking.enabled=false"], False),
    (["--help"], False), (["--cfg", "job"], False),
    (["-m", "replica=0,1", "hydra/launcher=ray"], False), (["--multirun", "hydra/launcher=submitit_slurm"], False),
    (["-m", "hydra/launcher=ray", "hydra/launcher=basic"], True), (["-m", "hydra/launcher=joblib"], True),
    (["hydra/launcher=ray"], True),
])
def test_only_commands_that_may_record_start_a_writer(argv, wanted):
    assert wants_writer(argv) is wanted
