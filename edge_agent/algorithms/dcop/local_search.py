"""DSA and MGM: synchronous local search, one participant per DCOP agent (holding one or more variables).

Steps and cycles. Each agent publishes one :class:`DcopCycle` per step to the agents it shares a constraint
with (they subscribed to it) and moves to step ``s + 1`` once it holds every neighbour's step-``s`` message;
later steps wait in a buffer, repeats and stale steps are dropped. A cycle is one decision on the values:

* **DSA** (Zhang et al. 2005): one step per cycle. Each variable looks at its local cost for every value
  (neighbours at their last published values) and, with probability ``p``, moves to a best value: variant
  ``A`` only if that strictly improves; ``B`` also on a tie while the variable is in conflict (its local cost
  is above the sum of its tables' minima); ``C`` also on any tie. A tie moves to another best value, chosen at
  random; every random draw comes from the variable's own generator (seeded by the run seed and its name),
  so a seed gives the same run in process and over MQTT.
* **MGM** (Maheswaran et al. 2004): two steps per cycle. Values, then gains: each variable announces the
  improvement its best value (lowest index among ties) would bring; it moves only if its gain is positive and
  beats every neighbour's (a tie goes to the smaller name), so two neighbours never move together and the
  cost never increases. Deterministic once the (seeded, random) start is drawn.

The stop rule, and how every agent learns it. ``max_cycles`` ends the run for everyone at the same step.
"No change for ``quiet_cycles`` cycles" is global: each message carries ``quiet``, set after a decision to
``1 + min(own, neighbours')`` if the agent kept its values and to 0 otherwise; ``quiet >= quiet_cycles +
hops`` (``hops`` bounds the distance between two agents) proves every agent kept its values for at least
``quiet_cycles`` cycles. The agent that sees it publishes its next message as ``final``; an agent that
receives a final message publishes its own next message as final (values unchanged) and stops, so the end
spreads by gossip and nobody waits for a neighbour that stopped. Each agent records its changes
``(cycle, variable, value)``: the best assignment seen and its cycle are recomputed from them (``history``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import structlog

from edge_agent.algorithms.dcop.local import LocalProblem
from edge_agent.algorithms.dcop.messages import Belief, DcopCycle, DcopStart, StopReason
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope, Message

__all__ = ["EPS", "LocalSearchAgent", "LocalSearchSettings", "variable_rng"]

log = structlog.get_logger("edge_agent.dcop")
EPS = 1e-9  # costs closer than this count as equal


@dataclass(frozen=True)
class LocalSearchSettings:
    algorithm: Literal["dsa", "mgm", "mgm2", "maxsum"]
    variant: Literal["A", "B", "C"] = "B"
    p: float = 0.7
    max_cycles: int = 100
    quiet_cycles: int = 10
    hops: int = 0
    seed: int = 0
    damping: float = 0.9  # Max-Sum: the weight of a message's previous value
    offer_probability: float = 0.5  # MGM-2: the chance that a variable makes an offer in a cycle
    tolerance: float | None = None  # Max-Sum: messages moving more than this count as a change (None: ignored)

    def __post_init__(self) -> None:
        if not 0 < self.p <= 1:
            raise ConfigError(f"DSA probability p must be in (0, 1], got {self.p}")
        if self.max_cycles < 1 or self.quiet_cycles < 1 or self.hops < 0:
            raise ConfigError(f"need max_cycles >= 1, quiet_cycles >= 1 and hops >= 0, got {self}")
        if not 0 <= self.damping < 1 or (self.tolerance is not None and self.tolerance < 0):
            raise ConfigError(f"Max-Sum needs 0 <= damping < 1 and tolerance >= 0, got {self}")

    @property
    def steps_per_cycle(self) -> int:
        return {"mgm": 2, "mgm2": 5}.get(self.algorithm, 1)


def variable_rng(seed: int, name: str) -> np.random.Generator:
    """The random generator of one variable: the same in every process for the same seed and name."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


class LocalSearchAgent:
    """One agent's side of a DSA or MGM run (see the module). ``neighbours``: the agents it hears."""

    def __init__(self, problem: LocalProblem, neighbours: tuple[str, ...], settings: LocalSearchSettings) -> None:
        if problem.agent in neighbours:
            raise ConfigError(f"agent {problem.agent!r} lists itself as a neighbour")
        self.problem = problem
        self.neighbours = neighbours
        self.settings = settings
        self._rngs = {name: variable_rng(settings.seed, name) for name in problem.own}
        self.values = {name: int(self._rngs[name].integers(problem.sizes[name])) for name in problem.own}
        self.known: dict[str, int] = {}
        self.gains: dict[str, float] = {}
        self._moves: dict[str, int] = {}
        self._floors = {name: problem.floor(name) for name in problem.own}
        self.changes: list[tuple[int, str, int]] = [(0, name, value) for name, value in self.values.items()]
        self.step = 0
        self.cycle = 0
        self.quiet = 0
        self.started = False
        self.finished = False
        self.stop: StopReason | None = None
        self.dropped = 0
        self.sent_bytes = 0  # JSON bytes of the message bodies this agent's neighbours received from it
        self._inbox: dict[int, dict[str, DcopCycle]] = {}
        self._heard = frozenset(neighbours)
        self._needed = len(neighbours)
        self._steps = settings.steps_per_cycle
        self._last_step = (settings.max_cycles + 1) * self._steps
        self._outbox: dict[str, Any] = {}  # fields of the next message besides the values

    @property
    def id(self) -> str:
        return self.problem.agent

    def join(self, carrier: Carrier) -> None:
        carrier.subscribe(self.neighbours)

    def start(self, carrier: Carrier) -> None:
        if not self.started:
            self.started = True
            self._publish(carrier, self._message(0, None))
            self._advance(carrier)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if type(message) is not DcopCycle:  # (the hot path: one call per delivery, hence the exact type)
            if isinstance(message, DcopStart):
                self.start(carrier)
            else:
                self.dropped += 1
            return
        step = message.step
        # a sender it does not hear, a past step, or one beyond the last step ever published: dropped
        if self.finished or envelope.sender not in self._heard or not self.step <= step <= self._last_step:
            self.dropped += 1
            return
        bucket = self._inbox.get(step)
        if bucket is None:
            bucket = self._inbox[step] = {}
        elif envelope.sender in bucket:
            self.dropped += 1
            return
        bucket[envelope.sender] = message
        if not self.started:
            self.start(carrier)
        elif step == self.step and len(bucket) == self._needed:  # else nothing can move yet
            self._advance(carrier)

    # -- the steps ---------------------------------------------------------------------------------
    def _advance(self, carrier: Carrier) -> None:
        needed = self._needed
        while not self.finished:
            bucket = self._inbox.get(self.step, {})
            if len(bucket) < needed:
                return
            self._inbox.pop(self.step, None)
            for message in bucket.values():
                self.known.update(message.values)
            inherited = next((m.final for m in bucket.values() if m.final is not None), None)
            if inherited is not None:
                self._finish(carrier, inherited)
                return
            phase = self.step % self._steps
            if phase < self._steps - 1:  # a step inside a cycle: no decision on the values yet
                self._phase(phase, bucket)
                self.step += 1
                self._publish(carrier, self._message(self.quiet, None))
                continue
            changed = self._decide(bucket)
            quiet_in = min([self.quiet, *(m.quiet for m in bucket.values())])
            self.quiet = 0 if changed else quiet_in + 1
            self.cycle += 1
            self.step += 1
            final: StopReason | None = None
            if self.quiet >= self.settings.quiet_cycles + self.settings.hops:
                final = "converged"
            elif self.cycle >= self.settings.max_cycles:
                final = "max_iterations"
            self._publish(carrier, self._message(self.quiet, final))
            if final is not None:
                self.finished, self.stop = True, final
                self._inbox.clear()

    def _finish(self, carrier: Carrier, reason: StopReason) -> None:
        self.step += 1
        self._publish(carrier, self._message(self.quiet, reason))
        self.finished, self.stop = True, reason
        self._inbox.clear()

    def _publish(self, carrier: Carrier, message: DcopCycle) -> None:
        carrier.publish(message)
        self.sent_bytes += len(message.model_dump_json()) * len(self.neighbours)  # bodies, as JSON, delivered

    def _message(self, quiet: int, final: StopReason | None) -> DcopCycle:
        extra, self._outbox = self._outbox, {}
        return DcopCycle(step=self.step, values=dict(self.values), quiet=quiet, final=final,
                         beliefs=self._beliefs(), **extra)

    @property
    def steps_per_cycle(self) -> int:
        return self._steps

    def _phase(self, phase: int, bucket: Mapping[str, DcopCycle]) -> None:
        """A step before the decision (MGM: announce the gains); fills what the next message carries."""
        del phase, bucket
        self._announce_gains()
        self._outbox = {"gains": dict(self.gains)}

    def _beliefs(self) -> tuple[Belief, ...] | None:
        """What a step message carries besides the values (Max-Sum's edge messages)."""
        return None

    def _record(self, moves: Mapping[str, int]) -> None:
        for name, value in moves.items():
            self.values[name] = value
            self.changes.append((self.cycle + 1, name, value))

    def _current(self) -> dict[str, int]:
        return {**self.known, **self.values}

    def _decide(self, bucket: Mapping[str, DcopCycle]) -> bool:
        """One decision for every own variable at once; whether any value changed."""
        moves = self._mgm_moves(bucket) if self.settings.algorithm == "mgm" else self._dsa_moves()
        self._record(moves)
        return bool(moves)

    def _dsa_moves(self) -> dict[str, int]:
        s, current, moves = self.settings, self._current(), {}
        for name in self.problem.own:
            costs = self.problem.local_costs(name, current).tolist()
            value = current[name]
            best = min(costs)
            delta = costs[value] - best
            rng = self._rngs[name]
            draw = rng.random()
            if delta > EPS:
                wants = True
            elif s.variant == "A":
                wants = False
            elif s.variant == "B":
                wants = costs[value] > self._floors[name] + EPS
            else:
                wants = True
            if not wants or draw >= s.p:
                continue
            options = [k for k, cost in enumerate(costs) if cost <= best + EPS and k != value]
            if options:
                moves[name] = options[int(rng.integers(len(options)))] if len(options) > 1 else options[0]
        return moves

    def _announce_gains(self) -> None:
        current = self._current()
        self.gains, self._moves = {}, {}
        for name in self.problem.own:
            costs = self.problem.local_costs(name, current)
            best = int(np.argmin(costs))
            gain = float(costs[current[name]] - costs[best])
            self.gains[name] = gain if gain > EPS else 0.0
            if gain > EPS:
                self._moves[name] = best

    def _mgm_moves(self, bucket: Mapping[str, DcopCycle]) -> dict[str, int]:
        gains = dict(self.gains)
        for message in bucket.values():
            gains.update(message.gains or {})
        moves = {}
        for name, best in self._moves.items():
            mine = gains[name]
            if all(mine > gains.get(other, 0.0) + EPS or (abs(mine - gains.get(other, 0.0)) <= EPS and name < other)
                   for other in self.problem.neighbours[name]):
                moves[name] = best
        return moves
