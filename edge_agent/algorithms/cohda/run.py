"""One COHDA run in one process: :func:`run_cohda` wires participants over a topology, starts one of them and
waits for quiescence (optionally again from perturbed selections, ``restarts.py``); :class:`CohdaOutcome` is
what it found and the report it makes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog

from edge_agent.algorithms.cohda.deciders import Choice
from edge_agent.algorithms.cohda.messages import CohdaCandidate, CohdaStart
from edge_agent.algorithms.cohda.participant import CohdaParticipant
from edge_agent.algorithms.cohda.performance import Target, rate
from edge_agent.algorithms.cohda.restarts import Restarts, Round, perturbed
from edge_agent.carrier.base import Network
from edge_agent.errors import ConfigError
from edge_agent.results import RunReport, Status
from edge_agent.topology import Graph

__all__ = ["CohdaOutcome", "run_cohda"]

log = structlog.get_logger("edge_agent.cohda")

Vector = np.ndarray[Any, np.dtype[np.float64]]


@dataclass
class CohdaOutcome:
    """A finished in-process run: the participants, what they agreed on (the best round's), counts.

    ``rounds`` has one entry per round (one without restarts); the participants' memories hold the last round.
    """

    participants: list[CohdaParticipant]
    target: Target
    candidate: CohdaCandidate
    agreed: bool
    messages: int
    wall_s: float
    chosen: dict[str, Choice] = field(default_factory=dict)
    starts: dict[str, Choice] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)
    restarts: Restarts | None = None

    def choices(self) -> dict[str, Choice]:
        """Each participant's schedule in the final candidate."""
        if self.chosen:
            return dict(self.chosen)
        return {p.id: p.memory.own(self.candidate.counter_of(p.id)) for p in self.participants}

    def aggregate(self) -> Vector:
        return np.asarray(np.sum([c.schedule for c in self.choices().values()], axis=0), dtype=np.float64)

    def distance(self) -> float:
        """Weighted L1 distance of the final aggregate to the target."""
        return _distance(self.target, self.aggregate())

    def start_aggregate(self) -> Vector:
        """The sum of the initial schedules (where the first round started)."""
        starts = self.starts or {p.id: p.decider.initial() for p in self.participants}
        return np.asarray(np.sum([c.schedule for c in starts.values()], axis=0), dtype=np.float64)

    def start_distance(self) -> float:
        return _distance(self.target, self.start_aggregate())

    def complete(self) -> bool:
        return set(self.candidate.ids) == {p.id for p in self.participants}

    def status(self) -> Status:
        if any(p.capped for p in self.participants):
            return "max_iterations"
        return "converged" if self.agreed and self.complete() else "failed"

    def status_basis(self) -> dict[str, Any]:
        """What decided the status: COHDA has no coupling constraint (every participant picks one of its own
        schedules), so ``converged`` rests on the protocol's local test alone; the distance says how good it is."""
        return {
            "feasibility": "selection: every participant's schedule is one of its own (no coupling residual)",
            "optimality": "local: agreed, complete candidate no participant or offered pair improves",
            "agreed": self.agreed,
            "complete": self.complete(),
            "capped": any(p.capped for p in self.participants),
            "distance": self.distance(),
        }

    def report(self, scenario: str, topology: str = "") -> RunReport:
        choices = self.choices()
        aggregate = self.aggregate()
        performance = self.participants[0].performance
        extra: dict[str, Any] = {
            "target": self.target.values.tolist(),
            "weights": self.target.weights.tolist(),
            "distance": self.distance(),
            "start_distance": self.start_distance(),
            "start_aggregate": self.start_aggregate().tolist(),
            "chosen_index": {pid: c.index for pid, c in choices.items()},
            "agreed": self.agreed,
            "topology": topology,
            "moves": sum(p.memory.moves for p in self.participants),
            "dropped_updates": sum(p.dropped for p in self.participants),
            "status_basis": self.status_basis(),
        }
        if self.restarts is not None and self.restarts.count > 0:
            best = min(range(len(self.rounds)), key=lambda k: (-self.rounds[k].rating, k))
            extra["restarts"] = {
                "count": self.restarts.count, "perturb": self.restarts.perturb, "best_round": best,
                "distances": [r.distance for r in self.rounds], "messages": [r.messages for r in self.rounds],
            }
        return RunReport(
            scenario=scenario,
            algorithm="cohda",
            status=self.status(),
            objective=-rate(performance, aggregate, self.target),
            iterations=max(p.decisions for p in self.participants),
            messages=self.messages,
            wall_s=self.wall_s,
            aggregate=aggregate.tolist(),
            participants={
                p.id: {"x": choices[p.id].schedule.tolist(), "index": choices[p.id].index, "decisions": p.decisions}
                for p in self.participants
            },
            extra=extra,
        )


def _distance(target: Target, aggregate: Vector) -> float:
    return float((np.abs(target.values - aggregate) * target.weights).sum())


def _check(participants: Sequence[CohdaParticipant], graph: Graph, target: Target) -> None:
    ids = [p.id for p in participants]
    if len(participants) < 2:
        msg = f"COHDA needs at least two participants, got {len(participants)}"
        raise ConfigError(msg)
    if len(set(ids)) != len(ids):
        twice = sorted({pid for pid in ids if ids.count(pid) > 1})
        msg = f"participant ids {twice} are used twice; ids must be unique"
        raise ConfigError(msg)
    if set(graph.nodes) != set(ids):
        msg = f"the topology's nodes {sorted(graph.nodes)[:10]} are not the participants {sorted(ids)[:10]}"
        raise ConfigError(msg)
    graph.require_strongly_connected()
    for p in participants:
        if p.decider.horizon != target.horizon:
            msg = f"participant {p.id!r} has schedules of {p.decider.horizon} slots but target has {target.horizon}"
            raise ConfigError(msg)


def _settle(participants: Sequence[CohdaParticipant], target: Target) -> Round:
    """The round that just reached quiescence: the best candidate anyone holds and everyone's schedule in it."""
    candidates = [p.memory.candidate for p in participants]
    if any(c is None for c in candidates):
        silent = [p.id for p in participants if p.memory.candidate is None]
        msg = f"participants {silent[:10]} never received the target"
        raise ConfigError(msg)
    final = [c for c in candidates if c is not None]
    agreed = all(c.wire.same_choice(final[0].wire) for c in final[1:])
    best = max(final, key=lambda c: (len(c.members), c.perf)).wire
    choices = {p.id: p.memory.own(best.counter_of(p.id)) for p in participants if p.id in best.ids}
    aggregate = np.sum([c.schedule for c in choices.values()], axis=0)
    return Round(best, choices, agreed, rate(participants[0].performance, aggregate, target),
                 _distance(target, aggregate), starts={p.id: p.decider.initial() for p in participants})


async def run_cohda(
    participants: Sequence[CohdaParticipant],
    graph: Graph,
    target: Target,
    network: Network,
    *,
    start_at: str | None = None,
    restarts: Restarts | None = None,
) -> CohdaOutcome:
    """Run COHDA in one process: subscribe everyone to its in-neighbours, start one, wait for quiescence; with
    ``restarts``, start again from the best selection so far, perturbed (``restarts.py``), and keep the best."""
    _check(participants, graph, target)
    ids = [p.id for p in participants]
    first = start_at or ids[0]
    policy = restarts or Restarts()
    rng = policy.rng()
    rounds: list[Round] = []
    best: Round | None = None
    started = time.perf_counter()
    async with network:
        carriers = {p.id: network.add(p) for p in participants}
        for p in participants:
            carriers[p.id].subscribe(graph.in_neighbours(p.id))
        for _ in range(policy.count + 1):
            if best is not None and not _usable(best, participants):
                break  # a failed or capped first round: nothing sound to restart from
            sent = network.stats.sent
            if best is None:
                carriers[first].send(CohdaStart(target=target.to_wire()), first)
            else:  # a warm restart: everyone announces its perturbed schedule, then all decide against the lot
                for p in participants:
                    p.restart(perturbed(p.decider, best.choices[p.id], policy.perturb, rng))
                for p in participants:
                    p.announce(carriers[p.id], target.to_wire())
            await network.quiescent()
            this = _settle(participants, target)
            this.messages = network.stats.sent - sent
            rounds.append(this)
            if best is None or _better(this, best, participants):
                best = this
    wall_s = time.perf_counter() - started
    assert best is not None
    outcome = CohdaOutcome(list(participants), target, best.candidate, best.agreed, network.stats.sent, wall_s,
                           chosen=best.choices if len(rounds) > 1 else {}, starts=rounds[0].starts, rounds=rounds,
                           restarts=restarts)
    log.info("cohda.done", participants=len(participants), agreed=best.agreed, messages=outcome.messages,
             rounds=len(rounds), distance=round(outcome.distance(), 6), wall_s=round(wall_s, 3))
    return outcome


def _usable(round: Round, participants: Sequence[CohdaParticipant]) -> bool:
    complete = set(round.candidate.ids) == {p.id for p in participants}
    return round.agreed and complete and not any(p.capped for p in participants)


def _better(this: Round, best: Round, participants: Sequence[CohdaParticipant]) -> bool:
    """A later round replaces the best one only if it is complete and agreed and rates strictly better."""
    tol = participants[0].memory.improvement_tol * max(1.0, abs(best.rating))
    return _usable(this, participants) and this.rating > best.rating + tol
