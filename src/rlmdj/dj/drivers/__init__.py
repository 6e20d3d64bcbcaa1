"""The DJs that can play a set (``dj.driver``) and the protocol they share.

- :mod:`~rlmdj.dj.drivers.base`: the :class:`~rlmdj.dj.drivers.base.Driver` protocol.
- :mod:`~rlmdj.dj.drivers.registry`: ``DRIVERS``, the builders ``dj.driver`` names.
- :mod:`~rlmdj.dj.drivers.reference`, :mod:`~rlmdj.dj.drivers.random`,
  :mod:`~rlmdj.dj.drivers.greedy`: the baselines that need no LLM. The RLM DJ is
  :mod:`rlmdj.dj.rlm.driver`.
"""
