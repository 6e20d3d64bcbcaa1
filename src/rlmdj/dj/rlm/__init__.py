"""The RLM DJ: a ``dspy.RLM`` that plays the set by writing code against the mixer tools.

- :mod:`~rlmdj.dj.rlm.driver`: the driver (signature, instructions, the set loop).
- :mod:`~rlmdj.dj.rlm.lm`: LMs built from config, recorded, retried.
- :mod:`~rlmdj.dj.rlm.sandbox`: the Deno/Pyodide sandbox and its crash recovery.
- :mod:`~rlmdj.dj.rlm.dspy_compat`: every use of DSPy beyond its public API, fenced.
- :mod:`~rlmdj.dj.rlm.transcript`, :mod:`~rlmdj.dj.rlm.replay`: the LM transcript and exact replay.
- :mod:`~rlmdj.dj.rlm.reask`, :mod:`~rlmdj.dj.rlm.accounting`, :mod:`~rlmdj.dj.rlm.critic`:
  re-asking unparsable replies, ``dj/...`` metrics, the LLM critic.
- :mod:`~rlmdj.dj.rlm.scaffold`: what the RLM reads besides the prompt (REPL contract, history).
- :mod:`~rlmdj.dj.rlm.budget`: a set's hard budgets and its expected cost.

Its settings, model and prompt file are checked before a set by :mod:`rlmdj.dj.rlm_inputs`.
"""
