"""The tool layer: what the DJ may do to the mixer, and the limits it is held to.

- :mod:`~rlmdj.dj.tools.registry`: what a tool is (one function: signature, docstring, hint)
  and ``TOOLS``, the registry every driver and the prompt check read.
- :mod:`~rlmdj.dj.tools.mixer`: the built-in mixer tools and the ``ToolLayer`` that runs them
  against a session, returning JSON.
- :mod:`~rlmdj.dj.tools.guardrails`: limits enforced on the mixer and reported afterwards.
- :mod:`~rlmdj.dj.tools.feedback`: rule-based feedback on the last rendered window.
"""
