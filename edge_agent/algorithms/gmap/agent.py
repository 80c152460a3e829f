"""DisLRP (Hirayama): one participant per GMAP agent, on synchronous cycles over the carrier.

Agent ``i`` holds a price ``mu_j`` for every good it can take. A cycle: solve the own 0-1 knapsack
``max sum_j (p_ij - mu_j) x_ij  s.t.  sum_j w_ij x_ij <= c_i`` exactly (:func:`solve_knapsack`), publish the
choice and its optimum to the agents sharing a good (they subscribed), and once every neighbour's choice of
the same cycle is in, count the takers ``n_j`` of each own good and move its price along the subgradient
``g_j = 1 - n_j``: up for a good taken by several agents, down for a good nobody took, unchanged otherwise.

Step sizes (documented in ``docs/gmap.md``): one per good, adapted from the good's own history only, so every
agent sharing the good computes the same price without a coordinator: ``mu_j -= delta_j * g_j`` with
``delta_j`` starting at ``initial_step`` times the largest gain of the good among the agent and its neighbours
(carried in no message: every agent sharing ``j`` gets it from the run's set-up as ``scale``), multiplied by
``grow`` while the sign of ``g_j`` repeats and by ``shrink`` when it flips (an Rprop-like rule).

Stop rule: ``quiet`` is 0 after a cycle in which some own good was not taken exactly once, else ``1 + min`` over
the own and the neighbours' ``quiet``; ``quiet > hops`` proves that all goods were taken exactly once, which is
then optimal and stays so (unchanged prices give the same choices). The agent that sees it, or reaches
``max_cycles``, sends its next message as ``final``; an agent that receives a final message stops too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.gmap.knapsack import solve_knapsack
from edge_agent.algorithms.gmap.messages import DisLrpCycle, DisLrpStart, StopReason
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope, Message

__all__ = ["DisLrpAgent", "DisLrpSettings", "LocalGmap", "Step"]

Step = tuple[NDArray[np.bool_], float, NDArray[np.float64]]  # one cycle of an agent: choice, optimum, prices


@dataclass(frozen=True)
class DisLrpSettings:
    max_cycles: int = 300
    hops: int = 1
    initial_step: float = 0.1
    grow: float = 1.0
    shrink: float = 0.95

    def __post_init__(self) -> None:
        if self.max_cycles < 1 or self.hops < 0:
            raise ConfigError(f"DisLRP needs max_cycles >= 1 and hops >= 0, got {self}")
        if not (self.initial_step > 0 and self.grow >= 1 and 0 < self.shrink < 1):
            raise ConfigError(f"DisLRP needs initial_step > 0, grow >= 1 and 0 < shrink < 1, got {self}")


@dataclass(frozen=True)
class LocalGmap:
    """What one agent knows: its gains, weights and capacity over all goods (ineligible goods never taken),
    the goods it can take, the scale of each good's first step, and its neighbours (ids)."""

    agent: str
    gain: NDArray[np.float64]
    weight: NDArray[np.int64]
    capacity: int
    goods: NDArray[np.int64]  # the goods this agent can take
    scale: NDArray[np.float64]  # per good of ``goods``
    neighbours: tuple[str, ...]


class DisLrpAgent:
    """One agent's side of a DisLRP run (see the module)."""

    def __init__(self, local: LocalGmap, settings: DisLrpSettings) -> None:
        if local.agent in local.neighbours:
            raise ConfigError(f"agent {local.agent!r} lists itself as a neighbour")
        self.local = local
        self.settings = settings
        size = len(local.gain)
        self.price = np.zeros(size)
        self.delta = np.zeros(size)
        self.delta[local.goods] = settings.initial_step * np.maximum(local.scale, 1e-6)
        self.last_sign = np.zeros(size)
        self.cycle = 0
        self.quiet = 0
        self.started = False
        self.finished = False
        self.stop: StopReason | None = None
        self.dropped = 0
        self.history: list[Step] = []
        self._choice = np.zeros(size, dtype=bool)
        self._value = 0.0
        self._inbox: dict[int, dict[str, DisLrpCycle]] = {}

    @property
    def id(self) -> str:
        return self.local.agent

    def join(self, carrier: Carrier) -> None:
        carrier.subscribe(self.local.neighbours)

    def start(self, carrier: Carrier) -> None:
        if not self.started:
            self.started = True
            self._solve()
            carrier.publish(self._message(None))
            self._advance(carrier)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, DisLrpStart):
            self.start(carrier)
            return
        if not isinstance(message, DisLrpCycle) or self.finished:
            self.dropped += 1
            return
        size = len(self.local.gain)
        if (envelope.sender not in self.local.neighbours or not self.cycle <= message.cycle <= self.settings.max_cycles
                or any(j >= size for j in message.chosen)):
            self.dropped += 1
            return
        bucket = self._inbox.setdefault(message.cycle, {})
        if envelope.sender in bucket:
            self.dropped += 1
            return
        bucket[envelope.sender] = message
        self.start(carrier)
        self._advance(carrier)

    def _solve(self) -> None:
        local = self.local
        values = np.full(len(local.gain), -1.0)
        values[local.goods] = local.gain[local.goods] - self.price[local.goods]
        self._value, self._choice = solve_knapsack(values, local.weight, local.capacity)
        self.history.append((self._choice, self._value, self.price.copy()))

    def _message(self, final: StopReason | None) -> DisLrpCycle:
        return DisLrpCycle(cycle=self.cycle, chosen=tuple(int(j) for j in np.flatnonzero(self._choice)),
                           value=self._value, quiet=self.quiet, final=final)

    def _advance(self, carrier: Carrier) -> None:
        while not self.finished:
            bucket = self._inbox.get(self.cycle, {})
            if len(bucket) < len(self.local.neighbours):
                return
            self._inbox.pop(self.cycle, None)
            if any(m.final is not None for m in bucket.values()):
                reason = next(m.final for m in bucket.values() if m.final is not None)
                self._end(carrier, reason)
                return
            takers = self._choice.astype(np.int64)
            for m in bucket.values():
                takers[list(m.chosen)] += 1
            goods = self.local.goods
            exact = bool((takers[goods] == 1).all())
            self.quiet = 1 + min([self.quiet, *(m.quiet for m in bucket.values())]) if exact else 0
            self._update_prices(takers)
            self.cycle += 1
            final: StopReason | None = None
            if self.quiet > self.settings.hops:
                final = "converged"
            elif self.cycle >= self.settings.max_cycles:
                final = "max_iterations"
            self._solve()
            carrier.publish(self._message(final))
            if final is not None:
                self._end(carrier, final, publish=False)

    def _update_prices(self, takers: NDArray[np.int64]) -> None:
        s, goods = self.settings, self.local.goods
        g = 1.0 - takers[goods]
        sign = np.sign(g)
        moving = sign != 0
        same = moving & (sign == self.last_sign[goods])
        flipped = moving & (sign == -self.last_sign[goods])
        delta = self.delta[goods]
        delta = np.where(same, delta * s.grow, np.where(flipped, delta * s.shrink, delta))
        self.delta[goods] = delta
        self.price[goods] -= delta * g
        self.last_sign[goods] = np.where(moving, sign, self.last_sign[goods])

    def _end(self, carrier: Carrier, reason: StopReason, *, publish: bool = True) -> None:
        if publish:
            self.cycle += 1
            self._solve()
            carrier.publish(self._message(reason))
        self.finished, self.stop = True, reason
        self._inbox.clear()
