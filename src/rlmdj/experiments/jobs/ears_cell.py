"""One cell of ``rlmdj experiment=ears_test`` (``ears_cell=...``); the analysis is
:mod:`rlmdj.analysis.studies.ears`."""

from __future__ import annotations

from omegaconf import DictConfig

__all__ = ["ears_cell_job"]


def ears_cell_job(cfg: DictConfig) -> float | None:
    """One cell of the test: an ordinary run, except that an RLM cell without a model is skipped."""
    from rlmdj.experiments.jobs.run import run_job

    if str(cfg.dj.driver) == "rlm" and not cfg.model.model and not cfg.dj.replay_transcript:
        cell = "listening" if cfg.ears.enabled else "deaf"
        print(f"rlmdj: ears_test: cell {cell} replica={cfg.replica} skipped: "
              "no model configured (add model=openai, model=ollama, ...)")
        return None
    return run_job(cfg)
