"""DPOP (Petcu & Faltings 2005): exact, in two sweeps over a pseudo-tree (``pseudo_tree``).

UTIL, leaves to root: a variable adds the constraints it handles and its children's UTIL tables into one
table over itself and its separator, checks the table's size against the memory limit first, keeps the best
value for every separator combination and sends the minimum over its own values to its parent (:class:`DpopUtil`,
in parts of at most ``CHUNK`` entries). A variable learns its separator from its parent, pseudo-parents and the
axes of its children's tables. VALUE, root to leaves: the root takes its best value; each variable, once it
knows its separator's values (:class:`DpopValue` from its parent), takes the best value stored for them and
tells each child the values of the child's separator. Ties go to the lowest value index, so a run is the
same in process and over MQTT. One participant per DCOP agent; messages between the variables of one
agent stay inside it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import structlog
from numpy.typing import NDArray

from edge_agent.algorithms.dcop.messages import DcopStart, DpopUtil, DpopValue
from edge_agent.algorithms.dcop.model import Dcop
from edge_agent.algorithms.dcop.pseudo_tree import BYTES_PER_ENTRY, PseudoTree, check_memory, pseudo_tree
from edge_agent.algorithms.dcop.runner import dcop_report
from edge_agent.carrier.base import Carrier, Network
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.messages import Envelope, Message
from edge_agent.results import RunReport

__all__ = ["CHUNK", "DpopAgent", "DpopOutcome", "DpopVariable", "dpop_agents", "dpop_report", "run_dpop"]

log = structlog.get_logger("edge_agent.dcop")
Array = NDArray[np.float64]
CHUNK = 32_768  # entries per UTIL part: about 350 KB of JSON, far below a broker's message limit


@dataclass(frozen=True)
class DpopVariable:
    """One variable's part in DPOP: its place in the tree and the constraints it handles (minimisation)."""

    name: str
    size: int
    parent: str | None
    pseudo_parents: tuple[str, ...]
    children: tuple[str, ...]
    constraints: tuple[tuple[tuple[str, ...], Array], ...]


@dataclass
class _State:
    var: DpopVariable
    utils: dict[str, tuple[tuple[str, ...], Array]] = field(default_factory=dict)
    parts: dict[str, dict[int, DpopUtil]] = field(default_factory=dict)
    separator: tuple[str, ...] = ()
    child_separators: dict[str, tuple[str, ...]] = field(default_factory=dict)
    best: NDArray[np.int64] | None = None
    value: int | None = None


def _aligned(table: Array, scope: tuple[str, ...], dims: tuple[str, ...]) -> Array:
    """``table`` over ``scope`` as an array broadcastable over ``dims`` (every scope variable is in dims)."""
    order = sorted(range(len(scope)), key=lambda k: dims.index(scope[k]))
    moved = np.transpose(table, order)
    shape = [1] * len(dims)
    for k in order:
        shape[dims.index(scope[k])] = table.shape[k]
    return moved.reshape(shape)


class DpopAgent:
    """A DCOP agent's side of DPOP. ``owners`` names the agent of every parent and child of its variables."""

    def __init__(self, agent: str, variables: Mapping[str, DpopVariable], owners: Mapping[str, str],
                 limit_bytes: float) -> None:
        self._id = agent
        self._states = {name: _State(var) for name, var in variables.items()}
        self._owners = dict(owners)
        self._limit = limit_bytes
        self._sizes: dict[str, int] = {name: var.size for name, var in variables.items()}
        for var in variables.values():
            for scope, table in var.constraints:
                self._sizes.update(zip(scope, table.shape, strict=True))
        self.started = False
        self.util_entries = 0  # the largest UTIL table this agent sent
        self.sent_util = 0
        self.received = 0  # UTIL and VALUE messages from other agents
        self.sent_bytes = 0  # JSON bytes of the UTIL and VALUE bodies sent to other agents

    @property
    def id(self) -> str:
        return self._id

    @property
    def finished(self) -> bool:
        return all(state.value is not None for state in self._states.values())

    def values(self) -> dict[str, int]:
        return {name: state.value for name, state in self._states.items() if state.value is not None}

    def start(self, carrier: Carrier) -> None:
        if self.started:
            return
        self.started = True
        for state in list(self._states.values()):
            if not state.var.children:
                self._util(carrier, state)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, DcopStart):
            self.start(carrier)
        elif isinstance(message, DpopUtil):
            self.received += 1
            self.start(carrier)
            self._receive_util(carrier, message)
        elif isinstance(message, DpopValue):
            self.received += 1
            self._receive_value(carrier, message)

    # -- UTIL ----------------------------------------------------------------------------------------
    def _receive_util(self, carrier: Carrier, message: DpopUtil) -> None:
        state = self._states.get(message.parent)
        if state is None or message.child not in state.var.children:
            raise ProtocolError(f"UTIL from {message.child!r} to {message.parent!r}, not a child of this agent's")
        parts = state.parts.setdefault(message.child, {})
        parts[message.part] = message
        if len(parts) < message.parts:
            return
        costs = np.concatenate([parts[k].costs for k in range(message.parts)])
        expected = math.prod(message.shape)
        if costs.size != expected:
            raise ProtocolError(f"UTIL of {message.child!r}: {costs.size} entries for shape {list(message.shape)}")
        del state.parts[message.child]
        self._sizes.update(zip(message.separator, message.shape, strict=True))
        state.utils[message.child] = (message.separator, costs.reshape(message.shape))
        state.child_separators[message.child] = message.separator
        if len(state.utils) == len(state.var.children):
            self._util(carrier, state)

    def _util(self, carrier: Carrier, state: _State) -> None:
        var = state.var
        seps = {name for scope, _ in var.constraints for name in scope}
        seps.update(var.pseudo_parents)
        if var.parent is not None:
            seps.add(var.parent)
        for scope, _ in state.utils.values():
            seps.update(scope)
        seps.discard(var.name)
        state.separator = tuple(sorted(seps))
        dims = (var.name, *state.separator)
        shape = tuple(self._sizes[name] for name in dims)
        if math.prod(shape) * BYTES_PER_ENTRY > self._limit:
            raise ConfigError(f"DPOP: variable {var.name!r} would build a table of "
                              f"{math.prod(shape) * BYTES_PER_ENTRY / 1e6:.1f} MB, above the memory limit")
        total = np.zeros(shape)
        for scope, table in (*var.constraints, *state.utils.values()):
            total = total + _aligned(table, scope, dims)
        state.utils.clear()
        state.best = np.argmin(total, axis=0)
        if var.parent is None:
            state.value = int(state.best[()])
            self._send_values(carrier, state, {var.name: state.value})
            return
        util = total.min(axis=0).ravel()
        self.util_entries = max(self.util_entries, util.size)
        parts = max(1, math.ceil(util.size / CHUNK))
        for k in range(parts):
            message = DpopUtil(child=var.name, parent=var.parent, separator=state.separator,
                               shape=tuple(self._sizes[s] for s in state.separator), part=k, parts=parts,
                               costs=util[k * CHUNK: (k + 1) * CHUNK])
            self._deliver(carrier, message, var.parent)

    # -- VALUE ---------------------------------------------------------------------------------------
    def _receive_value(self, carrier: Carrier, message: DpopValue) -> None:
        state = self._states.get(message.child)
        if state is None or state.var.parent != message.parent or state.best is None:
            raise ProtocolError(f"VALUE from {message.parent!r} to {message.child!r} does not fit the tree here")
        missing = [s for s in state.separator if s not in message.values]
        if missing:
            raise ProtocolError(f"VALUE to {message.child!r} lacks its separator values {missing}")
        state.value = int(state.best[tuple(message.values[s] for s in state.separator)])
        known = {name: message.values[name] for name in state.separator}
        self._send_values(carrier, state, {**known, state.var.name: state.value})

    def _send_values(self, carrier: Carrier, state: _State, known: Mapping[str, int]) -> None:
        for child in state.var.children:
            values = {name: known[name] for name in state.child_separators[child]}
            self._deliver(carrier, DpopValue(parent=state.var.name, child=child, values=values), child)

    def _deliver(self, carrier: Carrier, message: DpopUtil | DpopValue, to_variable: str) -> None:
        owner = self._owners.get(to_variable, self._id if to_variable in self._states else None)
        if owner is None:
            raise ConfigError(f"agent {self._id!r} does not know who owns variable {to_variable!r}")
        if owner == self._id:
            if isinstance(message, DpopUtil):
                self._receive_util(carrier, message)
            else:
                self._receive_value(carrier, message)
            return
        if isinstance(message, DpopUtil):
            self.sent_util += 1
        carrier.send(message, owner)
        self.sent_bytes += len(message.model_dump_json())


def dpop_variables(dcop: Dcop, tree: PseudoTree, agent: str) -> dict[str, DpopVariable]:
    tables = dcop.cost_tables
    found = {}
    for name in dcop.agents[agent]:
        node = tree.nodes[name]
        found[name] = DpopVariable(name, dcop.variable(name).size, node.parent, node.pseudo_parents, node.children,
                                   tuple((dcop.constraints[k].scope, tables[k]) for k in node.constraints))
    return found


def dpop_owners(dcop: Dcop, tree: PseudoTree, agent: str) -> dict[str, str]:
    """The owners of the tree neighbours (parent, children) of ``agent``'s variables."""
    owners = {}
    for name in dcop.agents[agent]:
        node = tree.nodes[name]
        for other in (*([node.parent] if node.parent else []), *node.children):
            owners[other] = dcop.owner[other]
    return owners


def dpop_agents(dcop: Dcop, memory_limit_mb: float) -> tuple[PseudoTree, list[DpopAgent]]:
    """The pseudo-tree and one agent per DCOP agent; :class:`ConfigError` first if a table would be too large."""
    tree = pseudo_tree(dcop)
    limit = memory_limit_mb * 1e6
    check_memory(dcop, tree, limit)
    return tree, [DpopAgent(agent, dpop_variables(dcop, tree, agent), dpop_owners(dcop, tree, agent), limit)
                  for agent in dcop.agents]


@dataclass(frozen=True)
class DpopOutcome:
    tree: PseudoTree
    assignment: dict[str, int]
    messages: int
    wall_s: float
    by_kind: dict[str, int]
    sent_bytes: int


async def run_dpop(dcop: Dcop, memory_limit_mb: float, network: Network) -> DpopOutcome:
    tree, agents = dpop_agents(dcop, memory_limit_mb)
    async with network:
        carriers = [network.add(agent) for agent in agents]
        started = time.perf_counter()
        for agent, carrier in zip(agents, carriers, strict=True):
            agent.start(carrier)
        await network.quiescent()
        wall_s = time.perf_counter() - started
    unfinished = [a.id for a in agents if not a.finished]
    if unfinished:
        raise ProtocolError(f"DPOP ended with agents {unfinished[:5]} still without values")
    assignment = {name: value for agent in agents for name, value in agent.values().items()}
    return DpopOutcome(tree, assignment, network.stats.sent, wall_s, dict(network.stats.by_kind),
                       sum(a.sent_bytes for a in agents))


def dpop_report(dcop: Dcop, scenario: str, tree: PseudoTree, assignment: dict[str, int], *, messages: int,
                wall_s: float, extra: dict[str, object] | None = None) -> RunReport:
    largest_at, largest = tree.largest_util(dcop)
    return dcop_report(dcop, scenario, "dpop", "converged", assignment, iterations=tree.height, messages=messages,
                       wall_s=wall_s, extra={
                           "optimal": True,
                           "induced_width": tree.induced_width,
                           "tree_height": tree.height,
                           "largest_util": {"variable": largest_at, "entries": largest,
                                            "bytes": largest * BYTES_PER_ENTRY},
                           **(extra or {}),
                       })
