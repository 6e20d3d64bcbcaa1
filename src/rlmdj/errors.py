"""Library-specific error types.

Every error a user can cause is raised as :class:`ParameterError` with a message that names the
bad value and shows what is accepted, so boundaries (CLI, tool layer, HTTP handler) can turn it
into a clear message without parsing tracebacks.
"""

from __future__ import annotations

__all__ = ["RlmdjError", "ParameterError"]


class RlmdjError(Exception):
    """Base class of every error rlmdj raises on purpose."""


class ParameterError(RlmdjError, ValueError):
    """Invalid input: the message says what was wrong and what is accepted."""
