"""What a set's run holds beyond params and metrics: its audio, its card, its timeline, its name.

- :mod:`~rlmdj.tracking.record.set_record`: each part of a set's record, written to the run.
- :mod:`~rlmdj.tracking.record.audio`: the set as one lossless artifact with its render hash.
- :mod:`~rlmdj.tracking.record.run_card`: the HTML card (listen, timeline, scores, decisions).
- :mod:`~rlmdj.tracking.record.timeline`: the arrangement drawn as a PNG.
- :mod:`~rlmdj.tracking.record.naming`: run names and descriptions.
"""
