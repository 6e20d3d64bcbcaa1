"""Modal app: audiobox-aesthetics on a GPU, speaking rlmdj's scoring API.

Deploy with ``modal deploy aesthetics/app.py`` from the repository root (rlmdj installed), then
score with ``rlmdj scorer=modal scorer.url=https://<workspace>--rlmdj-aesthetics-scorer-web.modal.run``.
See docs/scoring.md for the settings below, auth and costs.

The container runs rlmdj's own scoring code (``rlmdj.scoring.audiobox`` behind
``rlmdj.scoring.serving.server``), so it returns the same numbers as ``scorer=audiobox`` with the same
weights; the released weights are fetched from the Hugging Face hub once, at image build time,
and baked into the image (no download at cold start, and their hash is the model identity).

Deploy-time settings (environment variables read when deploying):
  RLMDJ_MODAL_APP             app name (default rlmdj-aesthetics)
  RLMDJ_MODAL_GPU             GPU type (default T4)
  RLMDJ_MODAL_SCALEDOWN_S     idle seconds before a container stops (default 120)
  RLMDJ_MODAL_MAX_CONTAINERS  upper bound on containers, i.e. on cost (default 2)
  RLMDJ_MODAL_PRECISION       fp32 (default, reference numbers) | fp16 | bf16
  RLMDJ_MODAL_PROXY_AUTH      1 -> require Modal proxy-auth headers (Modal-Key / Modal-Secret)
  RLMDJ_MODAL_TOKEN_SECRET    name of a Modal Secret holding RLMDJ_SCORER_TOKEN -> require
                              ``Authorization: Bearer <token>`` on /score
"""

from __future__ import annotations

import os

import modal

APP_NAME = os.environ.get("RLMDJ_MODAL_APP", "rlmdj-aesthetics")
GPU = os.environ.get("RLMDJ_MODAL_GPU", "T4")
SCALEDOWN_S = int(os.environ.get("RLMDJ_MODAL_SCALEDOWN_S", "120"))
MAX_CONTAINERS = int(os.environ.get("RLMDJ_MODAL_MAX_CONTAINERS", "2"))
PRECISION = os.environ.get("RLMDJ_MODAL_PRECISION", "fp32")
PROXY_AUTH = os.environ.get("RLMDJ_MODAL_PROXY_AUTH", "0") == "1"
TOKEN_SECRET = os.environ.get("RLMDJ_MODAL_TOKEN_SECRET") or None

HUB_ID = "facebook/audiobox-aesthetics"
WEIGHTS_DIR = "/weights/audiobox-aesthetics"
BATCH_WINDOWS = 12  # a 120 s set is 12 windows: one forward pass on a T4 in fp32


def download_weights() -> None:
    """Image build step: the released config.json + model.safetensors into WEIGHTS_DIR."""
    from huggingface_hub import snapshot_download

    snapshot_download(HUB_ID, local_dir=WEIGHTS_DIR, allow_patterns=["config.json", "model.safetensors"])


image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(
        "torch==2.13.0",
        "numpy>=1.26",
        "soundfile>=0.12",
        "huggingface-hub>=0.23",
        "safetensors>=0.4",
        "fastapi>=0.110",
        "python-multipart>=0.0.9",
    )
    # Its declared dependencies pull torchaudio, which the model does not use.
    .run_commands("pip install --no-deps audiobox-aesthetics==0.0.4")
    .run_function(download_weights)
    .env({"RLMDJ_AUDIOBOX_CHECKPOINT": WEIGHTS_DIR, "HF_HUB_OFFLINE": "1", "RLMDJ_MODAL_PRECISION": PRECISION})
    .add_local_python_source("rlmdj")
)

app = modal.App(APP_NAME)


@app.cls(
    image=image,
    gpu=GPU,
    scaledown_window=SCALEDOWN_S,
    max_containers=MAX_CONTAINERS,
    timeout=600,
    secrets=[modal.Secret.from_name(TOKEN_SECRET)] if TOKEN_SECRET else [],
)
@modal.concurrent(max_inputs=8)
class Scorer:
    """One loaded model per container; requests queue on it (the server scores one at a time).

    ``POST /score_batch`` pools the windows of a batch's sets, BATCH_WINDOWS per forward pass.
    """

    @modal.enter()
    def load(self) -> None:
        from rlmdj.scoring.audiobox import AudioboxScorer
        from rlmdj.scoring.serving.service import ScoringService

        scorer = AudioboxScorer(
            WEIGHTS_DIR,
            device="cuda",
            precision=os.environ.get("RLMDJ_MODAL_PRECISION", "fp32"),
            batch_size=BATCH_WINDOWS,
        )
        self.service = ScoringService(scorer, token=os.environ.get("RLMDJ_SCORER_TOKEN") or None)

    @modal.asgi_app(requires_proxy_auth=PROXY_AUTH)
    def web(self):
        from rlmdj.scoring.serving.server import create_app

        # Behind Modal's proxy every client shares one address, so the per-address upload cap is
        # the container's input limit; bodies still time out after read_timeout_s (408).
        return create_app(self.service, max_concurrency=1, max_queue=32, max_uploads_per_client=8)
