"""The exception tree of edge-agent.

::

    EdgeAgentError                  anything this package raises on purpose
     +-- ConfigError                a scenario, device or fleet description is invalid (user input)
     +-- ProtocolError              a wire message is malformed or does not fit the protocol state
     +-- SolverError                a local or central solver did not reach an optimal point
     +-- RunTimeout                 a participant did not answer within its deadline
     +-- TransportError             the carrier cannot deliver (broker unreachable, payload too large)

Every error carries the data needed to act on it (participant id, run id, round) as attributes,
and a message that names what was wrong and what is accepted.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EdgeAgentError",
    "ProtocolError",
    "RunTimeout",
    "SolverError",
    "TransportError",
    "first_own_error",
]


class EdgeAgentError(Exception):
    """Base class of every error raised on purpose by edge-agent."""


class ConfigError(EdgeAgentError):
    """Invalid user input: a scenario, device configuration or parameter.

    ``source`` names the file (or object) the bad value came from, when known.
    """

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class ProtocolError(EdgeAgentError):
    """A message that cannot be decoded or does not fit the current protocol state."""

    def __init__(self, message: str, *, sender: str | None = None) -> None:
        self.sender = sender
        super().__init__(f"from {sender}: {message}" if sender else message)


class SolverError(EdgeAgentError):
    """A solver finished without an optimal solution (infeasible, unbounded, iteration limit...)."""

    def __init__(self, message: str, *, participant: str | None = None, status: str | None = None) -> None:
        self.participant = participant
        self.status = status
        self.detail = message
        super().__init__(f"participant {participant!r}: {message}" if participant else message)


class RunTimeout(EdgeAgentError):
    """Participants stayed silent past their deadline."""

    def __init__(
        self, message: str, *, participants: tuple[str, ...] = (), round: int | None = None
    ) -> None:
        self.participants = participants
        self.round = round
        super().__init__(message)


class TransportError(EdgeAgentError):
    """The carrier could not deliver a message."""


def first_own_error(group: BaseExceptionGroup) -> BaseException:
    """The error to report for a failed task group: its first :class:`EdgeAgentError`, else its only
    error, else the group itself (so an unexpected bug keeps its full traceback)."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        error = stack.pop(0)
        if isinstance(error, BaseExceptionGroup):
            stack[:0] = list(error.exceptions)
        else:
            leaves.append(error)
    for leaf in leaves:
        if isinstance(leaf, EdgeAgentError):
            return leaf
    return leaves[0] if len(leaves) == 1 else group
