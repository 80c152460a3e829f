"""Messages of the coordinated ADMM protocol (one request/answer pair per participant and round)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge_agent.messages import FloatVector, Message

__all__ = ["AdmmAnswer", "AdmmFailure", "AdmmRequest"]


class AdmmRequest(Message):
    """Coordinator -> participant: solve ``min f(x) + rho/2 ||x - reference||^2`` for this round."""

    kind: Literal["admm.request"] = "admm.request"
    round: int = Field(ge=0)
    rho: float = Field(gt=0, le=1e8, allow_inf_nan=False)
    reference: FloatVector


class AdmmAnswer(Message):
    """Participant -> coordinator: the local minimiser for ``round``."""

    kind: Literal["admm.answer"] = "admm.answer"
    round: int = Field(ge=0)
    x: FloatVector
    cost: float = Field(default=0.0, allow_inf_nan=False)  # local cost f(x), for reporting the objective


class AdmmFailure(Message):
    """Participant -> coordinator: the local problem could not be solved (the run cannot go on)."""

    kind: Literal["admm.failure"] = "admm.failure"
    round: int = Field(ge=0)
    reason: str

