"""Max-Sum (Farinelli et al. 2008), in its min-sum form, on the factor graph of the DCOP, synchronous.

Every variable and every constraint is a node; a constraint's factor lives with the agent that owns the first
variable of its scope. Each cycle, from the messages of the previous one:

* variable ``x`` to factor ``f``: ``q(x) = sum of r_g(x) over the other factors g of x``, minus its mean;
* factor ``f`` to variable ``x``: ``r(x) = min over the other variables of (table + their q)``, minus its mean;
* both damped: ``new = damping * old + (1 - damping) * computed``;
* each variable takes the value minimising the sum of its incoming ``r`` (ties: the lowest index).

Messages between nodes of one agent stay inside it; the others ride on the agent's cycle gossip
(:class:`~.messages.DcopCycle` ``beliefs``), so only factor-graph neighbours exchange them. The run ends by
itself when no value changed for ``quiet_cycles`` cycles (the local searches' gossiped stop rule) and, if a
``tolerance`` is given, no message moved by more than it either; or after ``max_cycles``. On a graph with
cycles the messages of Max-Sum need not converge (with damping 0.5 they rarely did on random DCOPs, while the
values settled), so by default the values alone decide.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.dcop.local import LocalProblem
from edge_agent.algorithms.dcop.local_search import LocalSearchAgent, LocalSearchSettings
from edge_agent.algorithms.dcop.messages import Belief, DcopCycle

__all__ = ["MaxSumAgent"]

Array = NDArray[np.float64]
Edge = tuple[str, str]


class MaxSumAgent(LocalSearchAgent):
    """One agent's variables and hosted factors in a Max-Sum run (see the module)."""

    def __init__(self, problem: LocalProblem, neighbours: tuple[str, ...], settings: LocalSearchSettings) -> None:
        super().__init__(problem, neighbours, settings)
        own = set(problem.own)
        sizes = problem.sizes
        self._hosted = {c.name: c for c in problem.constraints if c.scope[0] in own}
        self._factors_of = {x: [c.name for c in problem.constraints if x in c.scope] for x in problem.own}
        self._q: dict[Edge, Array] = {(x, f): np.zeros(sizes[x]) for x, fs in self._factors_of.items() for f in fs}
        self._r: dict[Edge, Array] = {(f, y): np.zeros(sizes[y]) for f, c in self._hosted.items() for y in c.scope}
        self._in_r: dict[Edge, Array] = {(f, x): np.zeros(sizes[x]) for x, fs in self._factors_of.items() for f in fs}
        self._in_q: dict[Edge, Array] = {(y, f): np.zeros(sizes[y]) for f, c in self._hosted.items() for y in c.scope}
        self.moved = 0.0  # the largest change of an outgoing message in the last cycle
        # hosted binary factors grouped by table shape, their tables stacked: one numpy pass per group
        shapes: dict[tuple[int, ...], list[str]] = {}
        for f, c in self._hosted.items():
            if len(c.scope) == 2:
                shapes.setdefault(c.table.shape, []).append(f)
        self._pairs = [(fs, np.array([self._hosted[f].table for f in fs])) for fs in shapes.values()]
        self._others = [f for f, c in self._hosted.items() if len(c.scope) != 2]

    def _beliefs(self) -> tuple[Belief, ...]:
        own = self.problem.own
        out = [Belief(kind="q", source=x, target=f, costs=q) for (x, f), q in self._q.items() if f not in self._hosted]
        out += [Belief(kind="r", source=f, target=y, costs=r) for (f, y), r in self._r.items() if y not in own]
        return tuple(out)

    def _decide(self, bucket: Mapping[str, DcopCycle]) -> bool:
        self._take(bucket)
        track = self.settings.tolerance is not None  # (the largest move costs a reduction per message)
        self.moved = max(self._update_q(track), self._update_r(track))
        moves = {}
        for x, factors in self._factors_of.items():
            belief = sum((self._in_r[(f, x)] for f in factors), np.zeros(self.problem.sizes[x]))
            best = int(np.argmin(belief))
            if best != self.values[x]:
                moves[x] = best
        self._record(moves)
        tolerance = self.settings.tolerance
        return bool(moves) or (tolerance is not None and self.moved > tolerance)

    def _take(self, bucket: Mapping[str, DcopCycle]) -> None:
        """The previous cycle's messages into the inboxes: the neighbours' and this agent's own."""
        in_r, in_q = self._in_r, self._in_q
        for message in bucket.values():
            for b in message.beliefs or ():
                inbox = in_r if b.kind == "r" else in_q
                edge = (b.source, b.target)
                if edge in inbox:
                    inbox[edge] = b.costs
        for edge, r in self._r.items():
            if edge in in_r:
                in_r[edge] = r
        hosted = self._hosted
        for edge, q in self._q.items():
            if edge[1] in hosted:
                in_q[edge] = q

    def _update_q(self, track: bool) -> float:
        """Every ``q`` of a variable at once: a row per factor (rows are summed in the order of the factors)."""
        keep, moved, in_r, q = self.settings.damping, 0.0, self._in_r, self._q
        for x, factors in self._factors_of.items():
            if not factors:
                continue
            incoming = np.array([in_r[(f, x)] for f in factors])
            fresh = incoming.sum(axis=0) - incoming
            fresh -= np.add.reduce(fresh, axis=1, keepdims=True) / fresh.shape[1]
            old = np.array([q[(x, f)] for f in factors])
            new = keep * old + (1 - keep) * fresh
            if track:
                moved = max(moved, float(np.abs(new - old).max()))
            for f, row in zip(factors, new, strict=True):
                q[(x, f)] = row
        return moved

    def _update_r(self, track: bool) -> float:
        moved = 0.0
        in_q = self._in_q
        for factors, tables in self._pairs:  # binary: to the first variable, min over the second; and back
            scopes = [self._hosted[f].scope for f in factors]
            q0 = np.array([in_q[(scope[0], f)] for f, scope in zip(factors, scopes, strict=True)])
            q1 = np.array([in_q[(scope[1], f)] for f, scope in zip(factors, scopes, strict=True)])
            moved = max(moved, self._damp_r((tables + q1[:, None, :]).min(axis=2), factors, scopes, 0, track),
                        self._damp_r((tables + q0[:, :, None]).min(axis=1), factors, scopes, 1, track))
        for f in self._others:
            c = self._hosted[f]
            for k in range(len(c.scope)):
                fresh = self._factor_message(c.table, c.scope, f, k)[None, :]
                moved = max(moved, self._damp_r(fresh, [f], [c.scope], k, track))
        return moved

    def _damp_r(self, fresh: Array, factors: list[str], scopes: list[tuple[str, ...]], k: int, track: bool) -> float:
        """Normalise and damp the messages ``fresh`` (a row per factor) to each factor's ``k``-th variable."""
        keep, r = self.settings.damping, self._r
        fresh -= np.add.reduce(fresh, axis=1, keepdims=True) / fresh.shape[1]
        old = np.array([r[(f, scope[k])] for f, scope in zip(factors, scopes, strict=True)])
        new = keep * old + (1 - keep) * fresh
        for f, scope, row in zip(factors, scopes, new, strict=True):
            r[(f, scope[k])] = row
        return float(np.abs(new - old).max()) if track else 0.0

    def _factor_message(self, table: Array, scope: tuple[str, ...], factor: str, k: int) -> Array:
        """``min`` over every axis but ``k`` of the table plus the other variables' ``q`` (not binary tables)."""
        if len(scope) == 1:
            return table.copy()
        total = table.copy()
        for j, y in enumerate(scope):
            if j != k:
                shape = [1] * len(scope)
                shape[j] = table.shape[j]
                total = total + self._in_q[(y, factor)].reshape(shape)
        return np.asarray(total.min(axis=tuple(j for j in range(len(scope)) if j != k)), dtype=np.float64)
