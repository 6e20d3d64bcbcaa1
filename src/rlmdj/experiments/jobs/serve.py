"""``rlmdj experiment=serve scorer=audiobox``: serve the configured scorer over HTTP.

The server speaks the same API as the Modal app (``POST /score``, ``GET /health``), so any
rlmdj can score through it with ``scorer=http scorer.url=http://host:port``.
"""

from __future__ import annotations

import logging
import os
import socket

from omegaconf import DictConfig

from rlmdj.errors import ParameterError
from rlmdj.experiments.registry import job

__all__ = ["serve"]

log = logging.getLogger(__name__)


def _check_port_free(host: str, port: int) -> None:
    """Fail in a second, not after loading the model, when ``host:port`` cannot be bound."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ParameterError(f"experiment.serve.host={host!r} does not resolve ({exc})") from exc
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(addr)
        except OSError as exc:
            raise ParameterError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "pick another experiment.serve.port or stop what is using it"
            ) from exc


@job("serve")
def serve(cfg: DictConfig) -> None:
    """Build ``cfg.scorer`` once and serve it until interrupted (settings in ``cfg.experiment.serve``)."""
    from rlmdj.scoring.factory import build_scorer
    from rlmdj.scoring.server import run_server
    from rlmdj.scoring.service import ScoringService, UploadLimits

    s = cfg.experiment.serve
    token = None
    if s.token_env:
        token = os.environ.get(str(s.token_env))
        if not token:
            raise ParameterError(
                f"experiment.serve.token_env={s.token_env} but that environment variable is empty; "
                f"export {s.token_env}=<token> or set experiment.serve.token_env=null for no auth"
            )
    limits = UploadLimits.from_serve(s)
    _check_port_free(str(s.host), int(s.port))
    scorer = build_scorer(cfg.scorer)
    log.info("serving %s on http://%s:%s (auth: %s)", scorer.identity, s.host, s.port, "bearer" if token else "none")
    run_server(
        ScoringService(scorer, limits=limits, token=token),
        host=str(s.host),
        port=int(s.port),
        max_concurrency=int(s.max_concurrency),
        max_queue=int(s.max_queue),
        read_timeout_s=float(s.read_timeout_s),
        max_uploads_per_client=int(s.max_uploads_per_client),
        log_level=str(s.log_level),
    )
    return None
