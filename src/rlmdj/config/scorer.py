"""Schemas of the ``scorer`` group and of the scorer server (``experiment.serve``)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ScorerConfig", "ServeConfig"]


@dataclass
class ScorerConfig:
    """Which scorer turns the rendered set into CE/CU/PC/PQ, and the OBJ weights.

    ``name``: ``proxy`` (offline heuristic), ``audiobox`` (in-process model), ``http`` (any
    server speaking rlmdj's scoring API) or ``modal`` (the GPU app in aesthetics/app.py).
    Secrets are never config values: ``token_env`` and the ``modal_*_env`` fields name the
    environment variables that hold them.
    """

    name: str = "proxy"
    weights: dict[str, float] = field(
        default_factory=lambda: {"CE": 0.60, "CU": 0.05, "PC": 0.05, "PQ": 0.30}
    )
    # audiobox (in-process): checkpoint file/folder or hub id; null -> $RLMDJ_AUDIOBOX_CHECKPOINT,
    # else facebook/audiobox-aesthetics from the Hugging Face hub.
    checkpoint: str | None = None
    device: str = "auto"
    precision: str = "fp32"
    batch_size: int = 4
    # http / modal: endpoint and client behaviour.
    url: str | None = None
    token_env: str | None = None
    modal_key_env: str | None = None
    modal_secret_env: str | None = None
    timeout_s: float = 120.0  # deadline for one whole request (upload, scoring, answer)
    connect_timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 1.0
    max_wait_s: float = 300.0  # all attempts of one request together, back-off included
    max_concurrency: int = 2
    max_batch_sets: int = 8  # sets per POST /score_batch (screening, rescoring)
    # Score cache keyed by (scorer identity, audio hash).
    cache: bool = False
    cache_dir: str = "${rlmdj.cache_dir:}/scores"


@dataclass
class ServeConfig:
    """``rlmdj experiment=serve`` (settings ``experiment.serve.*``): serve the configured scorer
    over HTTP.

    ``token_env`` names the environment variable holding the bearer token clients must send
    (unset -> no auth). Uploads beyond ``max_upload_mb`` or ``max_duration_s`` get 413, and so
    do sets whose header declares more than ``max_decoded_samples`` (frames x channels) and
    requests whose sets together declare more than ``max_request_decoded_samples``: the server's
    memory follows the decoded audio (4 bytes a sample), not the upload's size, and a small
    compressed file can decode to gigabytes. ``rlmdj.scoring.serving.uploads.UploadLimits`` (the
    Modal app's limits) takes its defaults from here.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token_env: str | None = None
    max_upload_mb: float = 200.0
    max_duration_s: float = 1800.0
    max_channels: int = 16
    max_concurrency: int = 1
    max_queue: int = 16
    read_timeout_s: float = 15.0  # a request body must arrive within this (408 beyond)
    max_uploads_per_client: int = 4  # bodies one address may upload at once (429 beyond)
    max_batch_sets: int = 64  # sets one POST /score_batch may carry (413 beyond)
    max_decoded_samples: int = 57_600_000  # per set: 10 min of 48 kHz stereo, 230 MB as float32
    max_request_decoded_samples: int = 230_400_000  # all sets of one request together (920 MB)
    log_level: str = "info"
