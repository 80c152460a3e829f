"""MGM-2 (Maheswaran, Pearce & Tambe 2004): MGM with coordinated moves of pairs of neighbours, five steps a cycle.

0. values: every variable knows its neighbours' values and computes its best unilateral gain.
1. offers: with probability ``offer_probability`` a variable becomes an *offerer*: it picks one neighbour at
   random and offers it every joint move ``(a, b)`` with its own local gain for each (:class:`Offer`).
2. replies: a variable that made no offer weighs the offers it received: the joint gain of ``(a, b)`` is the
   offerer's gain plus its own, minus the change of the constraints they share (counted by both). It accepts
   the best offer (:class:`Reply`) if that beats its own unilateral gain, which makes the two partners.
3. gains: everyone announces its gain: a pair's joint gain for both partners, else the unilateral one.
4. go: a variable "goes" if its gain beats every neighbour's but its partner's (ties to the smaller name);
   a pair moves only if both partners go, a single variable as in MGM. No two moving variables are neighbours
   unless they are partners, so the cost never increases.

Random draws come from each variable's own generator (run seed and name), so a seed gives the same run on
every carrier. Offers and replies ride on the cycle gossip; the receiver named in them acts on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from edge_agent.algorithms.dcop.local import LocalProblem
from edge_agent.algorithms.dcop.local_search import EPS, LocalSearchAgent, LocalSearchSettings
from edge_agent.algorithms.dcop.messages import DcopCycle, Offer, Reply, StopReason

__all__ = ["Mgm2Agent"]


@dataclass(frozen=True)
class _Plan:
    value: int  # the value this variable would take
    gain: float
    partner: str | None = None


class Mgm2Agent(LocalSearchAgent):
    """One agent's variables in an MGM-2 run (see the module)."""

    def __init__(self, problem: LocalProblem, neighbours: tuple[str, ...], settings: LocalSearchSettings) -> None:
        super().__init__(problem, neighbours, settings)
        self._plans: dict[str, _Plan] = {}
        self._offered: dict[str, str] = {}  # offerer -> the neighbour it made an offer to
        self._go: dict[str, bool] = {}
        self._last: DcopCycle | None = None  # what this agent published last (its own variables read it too)

    def _messages(self, bucket: Mapping[str, DcopCycle]) -> Iterable[DcopCycle]:
        yield from bucket.values()
        if self._last is not None:
            yield self._last  # this agent's own variables talk to each other too

    def _message(self, quiet: int, final: StopReason | None) -> DcopCycle:
        message = super()._message(quiet, final)
        self._last = message
        return message

    def _phase(self, phase: int, bucket: Mapping[str, DcopCycle]) -> None:
        if phase == 0:
            self._make_offers()
        elif phase == 1:
            self._reply(bucket)
        elif phase == 2:
            self._announce(bucket)
        else:
            self._decide_go(bucket)

    # -- 0 -> 1: unilateral gains and offers ---------------------------------------------------------
    def _make_offers(self) -> None:
        current = self._current()
        self._plans, self._offered, self._go = {}, {}, {}
        offers = []
        for x in self.problem.own:
            costs = self.problem.local_costs(x, current)
            best = int(np.argmin(costs))
            self._plans[x] = _Plan(best, float(costs[current[x]] - costs[best]))
            rng = self._rngs[x]
            neighbours = self.problem.neighbours[x]
            if not neighbours or rng.random() >= self.settings.offer_probability:
                continue
            partner = neighbours[int(rng.integers(len(neighbours)))]
            here = float(costs[current[x]])
            gains = np.empty((self.problem.sizes[x], self.problem.sizes[partner]))
            for b in range(gains.shape[1]):
                gains[:, b] = here - self.problem.local_costs(x, {**current, partner: b})
            self._offered[x] = partner
            offers.append(Offer(source=x, target=partner, gains=gains.ravel()))
        self._outbox = {"offers": tuple(offers)}

    # -- 1 -> 2: receivers accept the best offer -----------------------------------------------------
    def _reply(self, bucket: Mapping[str, DcopCycle]) -> None:
        current = self._current()
        replies = []
        received: dict[str, list[Offer]] = {}
        for message in self._messages(bucket):
            for offer in message.offers or ():
                if offer.target in self._plans and offer.target not in self._offered:
                    received.setdefault(offer.target, []).append(offer)
        for y, offers in received.items():
            here = float(self.problem.local_costs(y, current)[current[y]])
            best: tuple[float, Offer, int, int] | None = None
            for offer in sorted(offers, key=lambda o: o.source):
                i = offer.source
                gains = np.asarray(offer.gains).reshape(self.problem.sizes[i], self.problem.sizes[y])
                shared_now = self._shared(y, i, current)
                for a in range(gains.shape[0]):
                    moved = {**current, i: a}
                    own = here - self.problem.local_costs(y, moved)
                    for b in range(gains.shape[1]):
                        shared = shared_now - self._shared(y, i, {**moved, y: b})
                        joint = float(gains[a, b] + own[b] - shared)
                        if best is None or joint > best[0] + EPS:
                            best = (joint, offer, a, b)
            if best is not None and best[0] > self._plans[y].gain + EPS and best[0] > EPS:
                joint, offer, a, b = best
                self._plans[y] = _Plan(b, joint, offer.source)
                replies.append(Reply(source=y, target=offer.source, offerer_value=a, own_value=b, gain=joint))
        self._outbox = {"replies": tuple(replies)}

    def _shared(self, y: str, i: str, values: Mapping[str, int]) -> float:
        """The cost of the constraints ``y`` and ``i`` share, at ``values``."""
        return float(sum(c.table[tuple(values[n] for n in c.scope)] for c in self.problem.constraints
                         if y in c.scope and i in c.scope))

    # -- 2 -> 3: offerers learn the answer; everyone announces its gain --------------------------------
    def _announce(self, bucket: Mapping[str, DcopCycle]) -> None:
        for message in self._messages(bucket):
            for reply in message.replies or ():
                if self._offered.get(reply.target) == reply.source:
                    self._plans[reply.target] = _Plan(reply.offerer_value, reply.gain, reply.source)
        self.gains = {x: plan.gain for x, plan in self._plans.items()}
        self._outbox = {"gains": dict(self.gains)}

    # -- 3 -> 4: who may move -------------------------------------------------------------------------
    def _decide_go(self, bucket: Mapping[str, DcopCycle]) -> None:
        gains = dict(self.gains)
        for message in bucket.values():
            gains.update(message.gains or {})
        for x, plan in self._plans.items():
            mine = plan.gain
            rivals = [n for n in self.problem.neighbours[x] if n != plan.partner]
            self._go[x] = mine > EPS and all(
                mine > gains.get(n, 0.0) + EPS or (abs(mine - gains.get(n, 0.0)) <= EPS and x < n) for n in rivals)
        self._outbox = {"go": {x: go for x, go in self._go.items() if self._plans[x].partner is not None}}

    # -- 4: the moves ---------------------------------------------------------------------------------
    def _decide(self, bucket: Mapping[str, DcopCycle]) -> bool:
        go = dict(self._go)
        for message in bucket.values():
            go.update(message.go or {})
        moves = {}
        for x, plan in self._plans.items():
            if not self._go[x] or plan.value == self.values[x]:
                continue
            if plan.partner is None or go.get(plan.partner, False):
                moves[x] = plan.value
        self._record(moves)
        return bool(moves)
