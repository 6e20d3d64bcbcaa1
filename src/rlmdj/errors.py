"""Library-specific error types.

Every error a user can cause is raised as :class:`ParameterError` with a message that names the
bad value and shows what is accepted, so boundaries (CLI, tool layer, HTTP handler) can turn it
into a clear message without parsing tracebacks. A failure of the machine or of a service
(a store that cannot be opened, a full disk, a server that does not answer) is an
:class:`EnvironmentProblem`: its message names the config key or path involved and what to do.
"""

from __future__ import annotations

__all__ = ["RlmdjError", "ParameterError", "EnvironmentProblem"]


class RlmdjError(Exception):
    """Base class of every error rlmdj raises on purpose."""


class ParameterError(RlmdjError, ValueError):
    """Invalid input: the message says what was wrong and what is accepted."""


class EnvironmentProblem(RlmdjError):
    """The environment failed (OS, network, store): the message names the key/path and a fix."""
