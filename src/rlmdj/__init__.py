"""rlmdj: an experiment platform for an LLM DJ.

Layers import one way: ``audio`` <- ``dj`` <- ``scoring`` / ``tracking`` <- ``experiments``.
"""

from rlmdj.errors import ParameterError, RlmdjError

__all__ = ["ParameterError", "RlmdjError", "__version__"]
__version__ = "0.1.0"
