"""A candidate being edited during one decision or merge, and the moves that edit it.

A :class:`Draft` starts from a rated candidate, takes moves (one participant switches version, the
aggregate changes by a known delta) and remembers them in a :class:`MoveLog`, which travels with the
built candidate (at most ``MAX_MOVES`` of them, the newest) so that a receiver holding a different
candidate can apply the ones that fit it (:func:`fitting_moves`).
"""

from __future__ import annotations

import numpy as np

from edge_agent.algorithms.cohda.memory import Rated
from edge_agent.algorithms.cohda.messages import CohdaCandidate, CohdaMoves
from edge_agent.algorithms.cohda.performance import Array, Performance, Target, rate

__all__ = ["MAX_MOVES", "Draft", "MoveLog", "fitting_moves"]

MAX_MOVES = 16


class MoveLog:
    """Moves in order, one per participant: ``before`` stays the first version, ``after`` the last."""

    def __init__(self, moves: CohdaMoves | None = None) -> None:
        self._moves: dict[str, tuple[int, int, Array]] = {}
        if moves is not None:
            for pid, before, after, delta in zip(moves.ids, moves.before, moves.after, moves.deltas, strict=True):
                self._moves[pid] = (before, after, delta)

    def __len__(self) -> int:
        return len(self._moves)

    def add(self, participant: str, before: int, after: int, delta: Array) -> None:
        previous = self._moves.pop(participant, None)
        if previous is not None:
            before, delta = previous[0], previous[2] + delta
        if before != after:
            self._moves[participant] = (before, after, delta)

    def to_wire(self, limit: int = MAX_MOVES) -> CohdaMoves | None:
        items = list(self._moves.items())[-limit:]
        if not items:
            return None
        deltas = np.array([delta for _, (_, _, delta) in items], dtype=np.float64)
        deltas.flags.writeable = False
        # Built from validated parts by this participant: skip re-validating on the hot path.
        return CohdaMoves.model_construct(
            ids=tuple(pid for pid, _ in items),
            before=tuple(before for _, (before, _, _) in items),
            after=tuple(after for _, (_, after, _) in items),
            deltas=deltas,
        )


def fitting_moves(candidate: CohdaCandidate, moves: CohdaMoves) -> list[int]:
    """Indices of the moves whose ``before`` is the candidate's version of that participant."""
    positions, counters = candidate.positions(), candidate.counters
    fitting = []
    for k, (pid, before) in enumerate(zip(moves.ids, moves.before, strict=True)):
        position = positions.get(pid)
        if position is not None and counters[position] == before:
            fitting.append(k)
    return fitting


class Draft:
    """A mutable copy of a candidate's versions and aggregate; its performance is computed on demand."""

    def __init__(self, rated: Rated, performance: Performance, target: Target) -> None:
        wire = rated.wire
        self.ids = wire.ids
        self._base = rated
        self._positions = wire.positions()
        self.counters = list(wire.counters)
        self.aggregate = np.array(wire.aggregate, dtype=np.float64)
        self.moves = MoveLog(wire.moves)
        self.changed = False
        self._perf: float | None = rated.perf
        self._performance = performance
        self._target = target

    @property
    def perf(self) -> float:
        if self._perf is None:
            self._perf = rate(self._performance, self.aggregate, self._target)
        return self._perf

    def version(self, participant: str) -> int:
        """The participant's version in the draft, 0 if it is not a member."""
        position = self._positions.get(participant)
        return 0 if position is None else self.counters[position]

    def rating_with(self, delta: Array) -> float:
        return rate(self._performance, self.aggregate + delta, self._target)

    def apply(self, participant: str, after: int, delta: Array) -> None:
        position = self._positions[participant]
        self.moves.add(participant, self.counters[position], after, delta)
        self.counters[position] = after
        self.aggregate += delta
        self._perf = None
        self.changed = True

    def build(self, owner: str) -> Rated:
        aggregate = np.array(self.aggregate, dtype=np.float64)
        aggregate.flags.writeable = False
        # Every part was validated where it came from (our own memory or a decoded message).
        wire = CohdaCandidate.model_construct(
            owner=owner, ids=self.ids, counters=tuple(self.counters), aggregate=aggregate, moves=self.moves.to_wire()
        )
        wire.share_positions(self._positions)
        return Rated(wire, rate(self._performance, aggregate, self._target), self._base.known_members())
