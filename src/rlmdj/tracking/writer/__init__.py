"""Recording a run in the background, so no stage of the set waits on MLflow.

- :mod:`~rlmdj.tracking.writer.queued`: :class:`QueuedRun`, the run's side: its calls append to
  a journal; only its end waits, for the whole record to be in the store.
- :mod:`~rlmdj.tracking.writer.journal`: the journal folder (operations and artifact files).
- :mod:`~rlmdj.tracking.writer.process`: the writer process, started early (:func:`prewarm`)
  so importing MLflow and opening the store overlap the set; or, in a joblib sweep's launching
  process, the same service in its threads.
- :mod:`~rlmdj.tracking.writer.service`: what a writer does, in its process or in those threads.
- :mod:`~rlmdj.tracking.writer.shared`: one writer for a joblib sweep's workers, over a Unix socket.
- :mod:`~rlmdj.tracking.writer.lingering`: a writer that stays after its command, for the next.
- :mod:`~rlmdj.tracking.writer.recorder`: the writer's side, applying a journal to a store.
- :mod:`~rlmdj.tracking.writer.upload`: ``rlmdj-upload``, a record a failed store left behind.
"""

from rlmdj.tracking.writer.process import prewarm
from rlmdj.tracking.writer.queued import QueuedRun

__all__ = ["QueuedRun", "prewarm"]
