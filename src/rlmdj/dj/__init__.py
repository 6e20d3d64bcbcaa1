"""The DJ: a session (bar clock, mixer, history), the tools that act on it, and who plays.

- :mod:`~rlmdj.dj.session`: :class:`~rlmdj.dj.session.Session`, the mixer and its rendered bars.
- :mod:`~rlmdj.dj.energy`: the set's arc (phases, layer ceilings, energy targets).
- :mod:`rlmdj.dj.tools`: the tool layer and guardrails.
- :mod:`rlmdj.dj.drivers`: the driver protocol and the baseline DJs.
- :mod:`rlmdj.dj.rlm`: the RLM DJ and everything it needs (LMs, sandbox, transcript);
  :mod:`~rlmdj.dj.rlm_inputs`: what it reads from the config (model, prompt file), checked.
- :mod:`rlmdj.dj.ears`: listening and auditioning.
"""
