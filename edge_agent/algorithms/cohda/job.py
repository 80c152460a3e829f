"""A COHDA run among device agents: the control messages around the gossip (see ``docs/cohda.md``, "Over MQTT").

A launcher asks each device to join a run with a :class:`CohdaJoin`: the run's id, the device's in-neighbours
(whose gossip it subscribes to), the target and weights, the performance function, the participant settings
and the device's own schedule set (or its corridor and search seed). In a real deployment a device would
derive its schedules from its own model; for now the launcher carries them from the scenario. The device
subscribes, waits until the subscriptions hold and answers :class:`CohdaJoined` (``reason`` set: it cannot
take part). After the end (detected by the launcher as a listen-only observer) the launcher sends every device
the final candidate in a :class:`CohdaCollect`; each answers :class:`CohdaChoice` with its own schedule in that
candidate, then forgets the run on :class:`CohdaLeave`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.algorithms.cohda.messages import CohdaCandidate, CohdaTarget
from edge_agent.algorithms.gossip_runs import InNeighbours, RunId
from edge_agent.messages import FloatMatrix, FloatVector, Message

__all__ = [
    "CohdaChoice",
    "CohdaCollect",
    "CohdaCorridor",
    "CohdaJoin",
    "CohdaJoined",
    "CohdaLeave",
    "CohdaSettings",
]



class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class CohdaSettings(_Part):
    """The :class:`~edge_agent.algorithms.cohda.participant.CohdaParticipant` options (``relay`` resolved)."""

    performance: Literal["weighted-l1", "weighted-squares", "peak"] = "weighted-l1"
    relay: bool = True
    batch: bool = True
    respond_to: Literal["config", "candidate", "both"] = "candidate"
    offers: int = Field(3, ge=0)
    compose: bool = True
    max_decisions: int = Field(10_000, ge=1)
    improvement_tol: float = Field(1e-9, ge=0)


class CohdaCorridor(_Part):
    """A continuous participant: per-slot corridors searched locally, with the seed of its search."""

    lower: FloatVector
    upper: FloatVector
    initial: FloatVector | None = None
    convergence_force_factor: float = Field(0.1, ge=0)
    max_iterations: int = Field(10, ge=1)
    sample_size_per_value: int = Field(10, ge=1)
    seed: tuple[int, ...] = Field(min_length=1, description="seeds the local search (numpy default_rng)")


class CohdaJoin(Message):
    """Request: take part in COHDA run ``run``. Exactly one of ``schedules`` and ``corridor``."""

    kind: Literal["cohda.join"] = "cohda.join"
    run: RunId
    in_neighbours: InNeighbours
    target: CohdaTarget
    settings: CohdaSettings = CohdaSettings()
    schedules: FloatMatrix | None = Field(None, description="the device's feasible schedules, one per row")
    initial_index: int = Field(0, ge=0)
    corridor: CohdaCorridor | None = None



class CohdaJoined(Message):
    """Reply to :class:`CohdaJoin`: subscribed and ready (``reason`` set: cannot take part, and why)."""

    kind: Literal["cohda.joined"] = "cohda.joined"
    run: RunId
    reason: str | None = None


class CohdaCollect(Message):
    """Request: your schedule in the final ``candidate`` (announced by the launcher)."""

    kind: Literal["cohda.collect"] = "cohda.collect"
    run: RunId
    candidate: CohdaCandidate


class CohdaChoice(Message):
    """Reply to :class:`CohdaCollect`: the participant's schedule in the final candidate, and its counts.

    ``agreed``: the participant's own best candidate chooses the same versions as the final one."""

    kind: Literal["cohda.choice"] = "cohda.choice"
    run: RunId
    reason: str | None = Field(None, description="set if the participant cannot answer (unknown run, failure)")
    index: int | None = None
    schedule: FloatVector | None = None
    initial: FloatVector | None = None
    agreed: bool = False
    decisions: int = 0
    capped: bool = False
    dropped: int = 0
    moves: int = 0
    received: int = 0


class CohdaLeave(Message):
    """Forget run ``run`` and the subscriptions only it needed. No answer."""

    kind: Literal["cohda.leave"] = "cohda.leave"
    run: RunId


