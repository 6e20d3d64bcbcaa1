"""``rlmdj experiment=serve scorer=audiobox``: serve the configured scorer over HTTP.

The server speaks the same API as the Modal app (``POST /score``, ``GET /health``), so any
rlmdj can score through it with ``scorer=http scorer.url=http://host:port``.
"""

from __future__ import annotations

import logging
import os

from omegaconf import DictConfig

from rlmdj.errors import ParameterError
from rlmdj.experiments.registry import job

__all__ = ["serve"]

log = logging.getLogger(__name__)


@job("serve")
def serve(cfg: DictConfig) -> None:
    """Build ``cfg.scorer`` once and serve it until interrupted (settings in ``cfg.serve``)."""
    from rlmdj.scoring.factory import build_scorer
    from rlmdj.scoring.server import run_server
    from rlmdj.scoring.service import ScoringService, UploadLimits

    s = cfg.serve
    token = None
    if s.token_env:
        token = os.environ.get(str(s.token_env))
        if not token:
            raise ParameterError(
                f"serve.token_env={s.token_env} but that environment variable is empty; "
                f"export {s.token_env}=<token> or set serve.token_env=null for no auth"
            )
    limits = UploadLimits(
        max_bytes=int(float(s.max_upload_mb) * 1024 * 1024),
        max_duration_s=float(s.max_duration_s),
        max_channels=int(s.max_channels),
    )
    scorer = build_scorer(cfg.scorer)
    log.info("serving %s on http://%s:%s (auth: %s)", scorer.identity, s.host, s.port, "bearer" if token else "none")
    run_server(
        ScoringService(scorer, limits=limits, token=token),
        host=str(s.host),
        port=int(s.port),
        max_concurrency=int(s.max_concurrency),
        max_queue=int(s.max_queue),
        log_level=str(s.log_level),
    )
    return None
