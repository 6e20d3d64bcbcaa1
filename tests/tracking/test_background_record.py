"""A run recorded by the writer process holds what the synchronous recorder wrote, key by key:
params, tags, metrics with their steps, artifacts, inputs, the trace and the prompt version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_manifest import CASES, record

STORED = json.loads((Path(__file__).parent / "data" / "run_manifest.json").read_text())
# Keys the config schema may gain after the manifest was stored: those must still all be there.
_GROWS = ("params", "tags", "prompts")


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_background_record_matches_the_synchronous_one(case, tmp_path):
    queued = record(case, tmp_path / "queued")
    synchronous = record(case, tmp_path / "sync", synchronous=True)
    assert queued == synchronous
    stored = STORED[case]
    for part, keys in stored.items():
        if part in _GROWS:
            assert set(keys) <= set(queued[part]), part
        else:
            assert queued[part] == keys, part
    # The journal folder is gone once the store holds the run.
    assert not list((tmp_path / "queued" / "out").glob("record-pending-*"))
