"""Restarts with perturbation: an option to leave the local optimum COHDA ends in (``settings.restarts``).

COHDA is a local search: it ends when every participant agreed on one candidate and none of them (nor an
offered pair) can improve it. Iterated local search, the usual way out of such an optimum, starts the protocol
again from the best selection found so far, after moving some participants elsewhere:

1. round 0 is the plain run (the default behaviour, unchanged);
2. before each further round every participant, on its own, keeps its schedule in the best selection so far
   with probability ``1 - perturb`` or starts from a schedule drawn uniformly from its own set (a corridor
   participant: uniformly inside its corridors) with probability ``perturb``;
3. the round starts warm: every participant forgets the previous round and announces its restart schedule
   (:meth:`~edge_agent.algorithms.cohda.participant.CohdaParticipant.announce`) before deciding, so the first
   decisions already see the whole perturbed selection and the local search continues from it (a cold start,
   the start message to one participant, would rebuild the selection greedily and waste most of the
   perturbation);
4. the round runs to quiescence like the first; its agreed, complete candidate replaces the best one if it rates
   strictly better (the run's performance function, relative tolerance ``improvement_tol``);
5. after ``restarts`` further rounds the best agreed selection is the result.

The result is never worse than round 0's; a warm round costs fewer messages than the first (measured:
``bench/results/cohda-planted.md``). Only the
decision to start a round and the comparison of the agreed results need anybody beyond a participant: in
process that is :func:`~edge_agent.algorithms.cohda.scenario.run_cohda`; over MQTT the listen-only launcher
could do it (it already hears every candidate), which is not wired yet (the MQTT plan refuses the option).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_agent.algorithms.cohda.deciders import Choice, Decider, EnumerationDecider, LocalSearchDecider
from edge_agent.algorithms.cohda.messages import CohdaCandidate
from edge_agent.errors import ConfigError

__all__ = ["Restarts", "Round", "perturbed"]


@dataclass(frozen=True)
class Restarts:
    """``count`` rounds after the first; each participant moves to a random schedule with probability ``perturb``."""

    count: int = 0
    perturb: float = 0.3
    seed: int | tuple[int, ...] = 0

    def __post_init__(self) -> None:
        if self.count < 0 or not 0.0 < self.perturb <= 1.0:
            msg = f"restarts need count >= 0 and 0 < perturb <= 1, got count {self.count}, perturb {self.perturb}"
            raise ConfigError(msg)

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)


@dataclass
class Round:
    """What one round agreed on, kept after the participants forget it: the candidate and each one's schedule."""

    candidate: CohdaCandidate
    choices: dict[str, Choice]
    agreed: bool
    rating: float
    distance: float
    messages: int = 0
    starts: dict[str, Choice] = field(default_factory=dict)


def perturbed(decider: Decider, best: Choice, perturb: float, rng: np.random.Generator) -> Decider:
    """``decider`` starting from ``best`` or, with probability ``perturb``, from a random schedule of its own."""
    move = bool(rng.random() < perturb)
    if isinstance(decider, EnumerationDecider):
        if best.index is None:
            msg = f"participant {decider.owner!r}: its best choice has no index"
            raise ConfigError(msg)
        return decider.starting_at(decider.random_index(rng) if move else best.index)
    if isinstance(decider, LocalSearchDecider):
        return decider.starting_at(decider.random_schedule(rng) if move else best.schedule)
    msg = f"restarts need enumeration or local-search deciders, not {type(decider).__name__}"
    raise ConfigError(msg)
