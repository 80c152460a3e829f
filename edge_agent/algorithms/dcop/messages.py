"""Wire messages of the DCOP family: the cycle gossip of the local searches, DPOP's UTIL and VALUE, and the
control messages a launcher exchanges with device agents (join, joined, collect, outcome, leave).

Variables are named by their DCOP names (``VarName``); values travel as indices into the variable's domain.
Every size is bounded so that a malformed message is refused where its bytes arrive.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_agent.algorithms.gossip_runs import InNeighbours, RunId
from edge_agent.ids import AgentId
from edge_agent.messages import FloatVector, Message

__all__ = [
    "Belief",
    "DcopCollect",
    "DcopConstraintWire",
    "DcopCycle",
    "DcopJoin",
    "DcopJoined",
    "DcopLeave",
    "DcopOutcome",
    "DcopSettingsWire",
    "DcopStart",
    "DcopVariableWire",
    "DpopUtil",
    "DpopValue",
    "Offer",
    "Reply",
    "StopReason",
    "VarName",
]

StopReason = Literal["converged", "max_iterations"]
VarName = Annotated[str, Field(min_length=1, max_length=128)]
MAX_VARIABLES = 100_000
Names = tuple[VarName, ...]
TreePlace = tuple[VarName | None, Names, Names, Names]  # parent, pseudo-parents, children, handled constraints
MAX_ENTRIES = 50_000_000


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class DcopStart(Message):
    """Kick-off: the receiver publishes its step-0 state (never counted as a neighbour's state)."""

    kind: Literal["dcop.start"] = "dcop.start"


class Belief(_Part):
    """A Max-Sum message on one factor-graph edge: ``q`` from variable ``source`` to factor ``target``, or
    ``r`` from factor ``source`` to variable ``target``; one cost per value of the variable."""

    kind: Literal["q", "r"]
    source: VarName
    target: VarName
    costs: FloatVector


class Offer(_Part):
    """MGM-2: offerer ``source`` proposes joint moves to its neighbour ``target``: ``gains[a * k + b]`` is the
    offerer's local gain if it takes value ``a`` and the target value ``b`` (``k``: the target's domain size)."""

    source: VarName
    target: VarName
    gains: FloatVector


class Reply(_Part):
    """MGM-2: ``source`` accepts ``target``'s offer of values (``offerer_value``, ``own_value``), together worth
    ``gain``."""

    source: VarName
    target: VarName
    offerer_value: int = Field(ge=0)
    own_value: int = Field(ge=0)
    gain: float = Field(allow_inf_nan=False)


class DcopCycle(Message):
    """One step of a synchronous local search: the sender's current values (and, in MGM's gain step, the
    gains its variables would make). ``quiet`` counts consecutive cycles its neighbourhood kept its values;
    ``final`` is set on the sender's last message, with why the run ended."""

    kind: Literal["dcop.cycle"] = "dcop.cycle"
    step: int = Field(ge=0)
    values: dict[VarName, Annotated[int, Field(ge=0)]] = Field(max_length=MAX_VARIABLES)
    gains: dict[VarName, Annotated[float, Field(allow_inf_nan=False)]] | None = Field(None, max_length=MAX_VARIABLES)
    beliefs: tuple[Belief, ...] | None = Field(None, max_length=MAX_VARIABLES, description="Max-Sum's messages")
    offers: tuple[Offer, ...] | None = Field(None, max_length=MAX_VARIABLES, description="MGM-2's offers")
    replies: tuple[Reply, ...] | None = Field(None, max_length=MAX_VARIABLES, description="MGM-2's acceptances")
    go: dict[VarName, bool] | None = Field(None, max_length=MAX_VARIABLES, description="MGM-2: pairs that may move")
    quiet: int = Field(0, ge=0)
    final: StopReason | None = None


class DpopUtil(Message):
    """DPOP's UTIL message from ``child`` to its parent: the best cost of the child's subtree for each
    combination of the ``separator`` variables (C order, axes in separator order; ``shape`` their domain sizes).
    A large table travels in ``parts`` pieces (``part`` counts from 0), reassembled before use."""

    kind: Literal["dpop.util"] = "dpop.util"
    child: VarName
    parent: VarName
    separator: tuple[VarName, ...] = Field(max_length=64)
    shape: tuple[Annotated[int, Field(ge=1)], ...] = Field(max_length=64)
    part: int = Field(0, ge=0)
    parts: int = Field(1, ge=1)
    costs: FloatVector

    @model_validator(mode="after")
    def _check(self) -> DpopUtil:
        if len(self.shape) != len(self.separator):
            msg = f"UTIL of {self.child!r}: {len(self.separator)} separator variables, shape {list(self.shape)}"
            raise ValueError(msg)
        if int(np.prod(self.shape)) > MAX_ENTRIES or self.part >= self.parts:
            msg = f"UTIL of {self.child!r}: shape {list(self.shape)}, part {self.part} of {self.parts}"
            raise ValueError(msg)
        return self


class DpopValue(Message):
    """DPOP's VALUE message from ``parent`` to ``child``: the values chosen for the child's separator."""

    kind: Literal["dpop.value"] = "dpop.value"
    parent: VarName
    child: VarName
    values: dict[VarName, Annotated[int, Field(ge=0)]] = Field(max_length=64)


class DcopVariableWire(_Part):
    name: VarName
    size: int = Field(ge=1, le=1_000_000, description="domain size (values are indices 0..size-1)")


class DcopConstraintWire(_Part):
    """A constraint an agent needs: its scope, and the table (minimisation form) flattened in C order."""

    name: VarName
    scope: tuple[VarName, ...] = Field(min_length=1, max_length=64)
    shape: tuple[Annotated[int, Field(ge=1)], ...] = Field(min_length=1, max_length=64)
    table: FloatVector

    @model_validator(mode="after")
    def _check(self) -> DcopConstraintWire:
        if len(self.shape) != len(self.scope) or int(np.prod(self.shape)) != self.table.size:
            msg = (f"constraint {self.name!r}: scope {list(self.scope)}, shape {list(self.shape)} and "
                   f"{self.table.size} table entries do not fit")
            raise ValueError(msg)
        return self


class DcopSettingsWire(_Part):
    """The algorithm and its settings, as every agent of a run is told."""

    algorithm: Literal["dsa", "mgm", "mgm2", "maxsum", "dpop"]
    variant: Literal["A", "B", "C"] = "B"
    p: float = Field(0.7, gt=0, le=1)
    offer_probability: float = Field(0.5, ge=0, le=1)
    max_cycles: int = Field(100, ge=1)
    quiet_cycles: int = Field(10, ge=1)
    hops: int = Field(0, ge=0, description="bounds the distance between two agents of a component")
    seed: int = Field(0, ge=0)
    memory_limit_mb: float = Field(256.0, gt=0)
    damping: float = Field(0.9, ge=0, lt=1)
    tolerance: float | None = Field(None, ge=0)


class DcopJoin(Message):
    """Request: take part in DCOP run ``run`` with these variables (owned) and the constraints on them.

    ``domains`` lists the own variables first, then every neighbour variable a constraint names. For DPOP,
    ``tree`` gives each own variable's parent (``None``: a root), pseudo-parents, children and the constraints it
    handles, and ``owners`` the agent
    of every variable the agent's own variables exchange UTIL or VALUE with."""

    kind: Literal["dcop.join"] = "dcop.join"
    run: RunId
    in_neighbours: InNeighbours
    settings: DcopSettingsWire
    own: tuple[VarName, ...] = Field(min_length=1, max_length=MAX_VARIABLES)
    domains: tuple[DcopVariableWire, ...] = Field(max_length=MAX_VARIABLES)
    constraints: tuple[DcopConstraintWire, ...] = Field(max_length=MAX_VARIABLES)
    tree: dict[VarName, TreePlace] | None = Field(
        None, description="DPOP: variable -> (parent, pseudo-parents, children, constraints it handles)")
    owners: dict[VarName, AgentId] = Field(default_factory=dict, max_length=MAX_VARIABLES)


class DcopJoined(Message):
    """Reply to :class:`DcopJoin`: subscribed and ready (``reason`` set: cannot take part, and why)."""

    kind: Literal["dcop.joined"] = "dcop.joined"
    run: RunId
    reason: str | None = None


class DcopCollect(Message):
    """Request: the agent's part of the outcome of run ``run``."""

    kind: Literal["dcop.collect"] = "dcop.collect"
    run: RunId


class DcopOutcome(Message):
    """An agent's part of the outcome: its final values, every change it made ``(cycle, variable, value)``,
    how its run ended. Sent unsolicited once the agent stopped, and as the answer to :class:`DcopCollect`."""

    kind: Literal["dcop.outcome"] = "dcop.outcome"
    run: RunId
    reason: str | None = Field(None, description="set if the agent cannot answer (unknown run, failure)")
    finished: bool = False
    stop: StopReason | None = None
    step: int = 0
    values: dict[VarName, Annotated[int, Field(ge=0)]] = Field(default_factory=dict, max_length=MAX_VARIABLES)
    changes: tuple[tuple[int, VarName, int], ...] = Field((), max_length=10_000_000)
    received: int = 0
    util_entries: int = 0
    util_bytes: int = 0
    sent_bytes: int = Field(0, ge=0, description="JSON bytes of the bodies its messages delivered")


class DcopLeave(Message):
    """Forget run ``run`` and the subscriptions only it needed. No answer."""

    kind: Literal["dcop.leave"] = "dcop.leave"
    run: RunId
