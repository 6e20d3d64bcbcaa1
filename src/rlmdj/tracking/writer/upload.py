"""``rlmdj-upload <folder>``: send a run's record that its store could not take when it ran.

The folder is the ``record-pending-…`` folder a run leaves in its output folder when the store
failed (the run's error line names it). Its journal is applied to the store it names (or to
``--tracking-uri``) as a new run with everything the set produced: params, tags, metrics, inputs,
prompt, trace, artifacts and end state. The folder is removed once the store holds the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlmdj.tracking.writer.journal import JOURNAL, Journal

__all__ = ["main", "upload"]


def upload(folder: str | Path, *, uri: str | None = None) -> tuple[str | None, str | None]:
    """Apply the record in ``folder``; (run id, None) or (run id or None, the store's error)."""
    from rlmdj.tracking.writer.recorder import Recorder

    journal = Journal(folder)
    recorder = Recorder(journal, uri=uri)
    ops = journal.read()
    for op in ops:
        recorder.apply(op)
    if not recorder.finished:  # the run's process died before it ended the run
        recorder.apply({"op": "end", "status": "KILLED"})
    run_id = recorder.run.run_id if recorder.run is not None else None
    if recorder.error is None:
        journal.remove()
    return run_id, recorder.error


def main(argv: list[str] | None = None) -> None:
    """Console script ``rlmdj-upload``."""
    parser = argparse.ArgumentParser(prog="rlmdj-upload", description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the record-pending-… folder the run's error line names")
    parser.add_argument("--tracking-uri", help="send to this store instead of the one the run named")
    args = parser.parse_args(argv)
    if not (Path(args.folder) / JOURNAL).is_file():
        print(f"rlmdj-upload: error: {args.folder}: no {JOURNAL} here (give the record-pending-… "
              "folder the run's error line names)", file=sys.stderr)
        sys.exit(2)
    from rlmdj.tracking.store import mlflow_env_defaults

    mlflow_env_defaults()
    run_id, error = upload(args.folder, uri=args.tracking_uri)
    if error is not None:
        print(f"rlmdj-upload: error: {error}; the record stays in {args.folder}", file=sys.stderr)
        sys.exit(1)
    print(f"rlmdj-upload: run {run_id} recorded; {args.folder} removed")


if __name__ == "__main__":
    main()
