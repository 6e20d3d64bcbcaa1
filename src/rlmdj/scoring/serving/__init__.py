"""Scorers served over HTTP: a core with no web framework, and its adapters.

- :mod:`~rlmdj.scoring.serving.service`: requests in, scores out (shared by the server and the Modal app).
- :mod:`~rlmdj.scoring.serving.uploads`: what a request may decode, checked from headers first.
- :mod:`~rlmdj.scoring.serving.server`: the FastAPI app behind ``rlmdj experiment=serve``.
"""
