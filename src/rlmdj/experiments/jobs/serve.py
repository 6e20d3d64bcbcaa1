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

__all__ = ["check", "serve"]

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


def check(cfg: DictConfig) -> None:
    """The server's port, host and limits, then the scorer it serves (before the model loads)."""
    from rlmdj.experiments.cli.preflight import check_scorer
    from rlmdj.validation import env_set, number, setting

    p = "experiment.serve"
    number(cfg, f"{p}.port", lo=0, hi=65535, integer=True, example=8000)
    if not str(setting(cfg, f"{p}.host") or ""):
        raise ParameterError(f"{p}.host must name an interface, e.g. {p}.host=127.0.0.1")
    number(cfg, f"{p}.max_upload_mb", lo=0.001, hi=1e6, example=200)
    number(cfg, f"{p}.max_duration_s", lo=1, hi=1e6, example=1800)
    number(cfg, f"{p}.max_concurrency", lo=1, hi=1024, integer=True, example=1)
    number(cfg, f"{p}.max_queue", lo=0, hi=100000, integer=True, example=16)
    number(cfg, f"{p}.read_timeout_s", lo=0.1, hi=86400, example=15)
    number(cfg, f"{p}.max_uploads_per_client", lo=1, hi=100000, integer=True, example=4)
    number(cfg, f"{p}.max_batch_sets", lo=1, hi=100000, integer=True, example=64)
    env_set(cfg, f"{p}.token_env")
    check_scorer(cfg)


def serve(cfg: DictConfig) -> None:
    """Build ``cfg.scorer`` once and serve it until interrupted (settings in ``cfg.experiment.serve``)."""
    from rlmdj.scoring.factory import build_scorer
    from rlmdj.scoring.serving.server import run_server
    from rlmdj.scoring.serving.service import ScoringService, UploadLimits

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
