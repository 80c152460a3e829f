"""One participant's COHDA state and its perceive / decide steps, free of any transport.

- **perceive** (:meth:`WorkingMemory.perceive`): merge an update's configuration entries (higher
  counter wins) and candidate (:func:`~edge_agent.algorithms.cohda.memory.merge_candidates`), then apply
  the losing candidate's moves that fit the winner (``compose``); store the sender's pair-move offers.
  Returns whether anything changed; an update that changes nothing is dropped.
- **decide** (:meth:`WorkingMemory.decide`): the decider's best schedule against the others' current
  choices (the system configuration, as in COHDA) and/or against the others' schedules in the best
  candidate (``respond_to``). A new candidate must beat the current one: more members, or the same
  members and a performance better by more than ``improvement_tol`` (relative). Then *pair moves*: a
  neighbour's offered switch plus our best response to it, if the pair improves (up to
  ``max_pair_moves``). Without any improvement we offer our own ``offers`` best alternatives. Finally
  our configuration entry follows our schedule in the best candidate.
- **news** (:meth:`WorkingMemory.news`): the updates to publish (only what changed).

Own schedule versions come from one increasing counter: configuration entries and offered
alternatives both take the next number, so ``(participant, version)`` always names one schedule and
``history`` resolves every version a candidate can mention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from edge_agent.algorithms.cohda.deciders import Choice, Decider, EnumerationDecider
from edge_agent.algorithms.cohda.draft import Draft, fitting_moves
from edge_agent.algorithms.cohda.memory import Rated, SystemConfig, extend, merge_candidates
from edge_agent.algorithms.cohda.messages import CohdaCandidate, CohdaOffers, CohdaTarget, CohdaUpdate
from edge_agent.algorithms.cohda.performance import Array, Performance, Target, rate
from edge_agent.errors import ConfigError, ProtocolError

__all__ = ["RespondTo", "WorkingMemory"]

RespondTo = Literal["config", "candidate", "both"]


@dataclass(frozen=True, slots=True)
class _Offer:
    base: int
    versions: tuple[int, ...]
    deltas: Array


class WorkingMemory:
    def __init__(
        self,
        owner: str,
        decider: Decider,
        performance: Performance,
        *,
        relay: bool = True,
        respond_to: RespondTo = "candidate",
        offers: int = 3,
        compose: bool = True,
        max_pair_moves: int = 4,
        improvement_tol: float = 1e-9,
    ) -> None:
        if improvement_tol < 0 or offers < 0:
            msg = f"participant {owner!r}: needs improvement_tol >= 0 and offers >= 0"
            raise ConfigError(msg)
        self.owner = owner
        self.decider = decider
        self.performance = performance
        self.relay = relay
        self.respond_to = respond_to
        self.offer_count = offers if isinstance(decider, EnumerationDecider) else 0
        self.improvement_tol = improvement_tol
        self.compose = compose
        self.max_pair_moves = max_pair_moves
        self.target: Target | None = None
        self.config = SystemConfig(decider.horizon)
        self.candidate: Rated | None = None
        self.history: dict[int, Choice] = {}
        self.moves = 0
        self._version = 0
        self._reserved: dict[int, int] = {}  # schedule index -> version offered for it
        self._offers_in: dict[str, _Offer] = {}
        self._offered: tuple[int, tuple[int, ...]] | None = None
        self._offers_out: CohdaOffers | None = None
        self._target_sent = False
        self._candidate_changed = False
        self._candidate_built = False

    # -- versions ----------------------------------------------------------------------------------
    def own(self, version: int, sender: str | None = None) -> Choice:
        try:
            return self.history[version]
        except KeyError:
            msg = f"a candidate names version {version} of {self.owner!r}, which {self.owner!r} never made"
            raise ProtocolError(msg, sender=sender) from None

    def choice(self) -> Choice:
        """Our schedule in the best candidate (the initial schedule before the run starts)."""
        if self.candidate is None:
            return self.decider.initial()
        return self.own(self.candidate.wire.counter_of(self.owner))

    def _issue(self, choice: Choice) -> int:
        self._version += 1
        self.history[self._version] = choice
        return self._version

    def _record(self, choice: Choice) -> int:
        """Make ``choice`` our current configuration entry, under a new version."""
        version = self._issue(choice)
        self.config.set(self.owner, version, choice.schedule)
        self.moves += 1
        return version

    # -- perceive ----------------------------------------------------------------------------------
    def learn_target(self, wire: CohdaTarget, sender: str) -> bool:
        """Adopt the target (first time: start from the initial schedule); True if it was new."""
        target = Target.from_wire(wire)
        if self.target is not None:
            if not self.target.same_as(target):
                msg = f"participant {self.owner!r} already works toward a different target"
                raise ProtocolError(msg, sender=sender)
            return False
        if target.horizon != self.decider.horizon:
            msg = (
                f"participant {self.owner!r}: its schedules have {self.decider.horizon} slots but the target "
                f"has {target.horizon}; they must match"
            )
            raise ConfigError(msg)
        self.target = target
        self._record(self.decider.initial())
        self.moves = 0
        self._set_candidate(self.config.ids, self.config.counters(), self.config.total.copy(), self.config.members)
        return True

    def perceive(self, update: CohdaUpdate, sender: str) -> bool:
        """Merge one update; True if anything changed. Needs the target (see :meth:`learn_target`)."""
        target, candidate = self.target, self.candidate
        if target is None or candidate is None:
            msg = f"participant {self.owner!r} got an update before the target"
            raise ProtocolError(msg, sender=sender)
        changed = False
        if update.entries is not None:
            changed = self.config.merge(update.entries, self.owner, sender)
        if update.candidate is not None and update.candidate is not candidate.wire:
            changed = self._perceive_candidate(update.candidate, candidate, target, sender) or changed
        if update.offers is not None and self.offer_count:
            if update.offers.deltas.shape[1] != target.horizon:
                msg = f"offers with {update.offers.deltas.shape[1]} slots; the target has {target.horizon}"
                raise ProtocolError(msg, sender=sender)
            offers = update.offers
            self._offers_in[sender] = _Offer(offers.base, offers.versions, offers.deltas)
            changed = True
        return changed

    def _perceive_candidate(self, wire: CohdaCandidate, candidate: Rated, target: Target, sender: str) -> bool:
        if wire.aggregate.size != target.horizon or (
            wire.moves is not None and wire.moves.deltas.shape[1] != target.horizon
        ):
            msg = f"a candidate with {wire.aggregate.size} slots; the target has {target.horizon}"
            raise ProtocolError(msg, sender=sender)
        theirs = Rated.of(wire, self.performance, target)
        merged = merge_candidates(
            candidate, theirs, me=self.owner, config=self.config, performance=self.performance, target=target
        )
        other = candidate if merged is theirs else theirs
        if self.compose and merged.wire.ids == other.wire.ids:
            merged = self._compose(merged, other, target) or merged
        if merged is candidate:
            return False
        self.own(merged.wire.counter_of(self.owner), sender)
        self.candidate = merged
        self._candidate_changed = True
        self._candidate_built = self._candidate_built or merged is not theirs
        return True

    def _compose(self, base: Rated, other: Rated, target: Target) -> Rated | None:
        """``base`` plus the moves of ``other`` that fit it (same ``before`` version), if that beats both."""
        moves = other.wire.moves
        if moves is None:
            return None
        fitting = fitting_moves(base.wire, moves)
        if not fitting:
            return None
        total = moves.deltas[fitting].sum(axis=0)
        if not self._improves(rate(self.performance, base.wire.aggregate + total, target), base):
            return None
        draft = Draft(base, self.performance, target)
        for k in fitting:
            draft.apply(moves.ids[k], moves.after[k], moves.deltas[k])
        return draft.build(self.owner)

    # -- decide ------------------------------------------------------------------------------------
    def decide(self) -> None:
        target = self.target
        if target is None or self.candidate is None:
            return
        improved = False
        if self.respond_to in ("config", "both"):
            improved = self._respond_to_config(target, self.candidate)
        elif len(self.config) > len(self.candidate.wire.ids):
            # the configuration knows participants our candidate lacks: take them in (the superset wins)
            extra = list(self.config.members - self.candidate.members)
            self.candidate = extend(
                self.candidate, extra, me=self.owner, config=self.config, performance=self.performance, target=target
            )
            self._candidate_changed = self._candidate_built = improved = True
        draft = Draft(self.candidate, self.performance, target)
        if self.respond_to in ("candidate", "both"):
            self._respond_to_draft(target, draft)
        if self.offer_count:
            for _ in range(self.max_pair_moves):
                if not self._pair_move(target, draft):
                    break
        if draft.changed:
            self.candidate = draft.build(self.owner)
            self._candidate_changed = self._candidate_built = improved = True
        chosen = self.own(self.candidate.wire.counter_of(self.owner))
        if not chosen.same_as(self.own(self.config.counter(self.owner))):
            self._record(chosen)
        if not improved and self.offer_count:
            self._prepare_offers(target, self.candidate)

    def _improves(self, perf: float, candidate: Rated) -> bool:
        return perf > candidate.perf + self.improvement_tol * max(1.0, abs(candidate.perf))

    def _beats(self, members: frozenset[str], perf: float, candidate: Rated) -> bool:
        if len(candidate.wire.ids) < len(members):
            return candidate.members < members
        return len(candidate.wire.ids) == len(members) and members == candidate.members and self._improves(
            perf, candidate
        )

    def _respond_to_config(self, target: Target, candidate: Rated) -> bool:
        """COHDA's decision: our best schedule given the others' current choices."""
        own = self.own(self.config.counter(self.owner))
        others = self.config.total - self.config.row(self.owner)
        base = self.own(candidate.wire.counter_of(self.owner))
        proposal = self.decider.propose(others, base, target, self.performance)
        aggregate = others + proposal.schedule
        members = self.config.members
        if not self._beats(members, rate(self.performance, aggregate, target), candidate):
            return False
        if not proposal.same_as(own):
            self._record(proposal)
        self.candidate = Rated.build(
            owner=self.owner, ids=self.config.ids, counters=self.config.counters(), aggregate=aggregate,
            performance=self.performance, target=target, members=members,
        )
        self._candidate_changed = self._candidate_built = True
        return True

    def _respond_to_draft(self, target: Target, draft: Draft) -> None:
        """Our best schedule given the others' schedules in the best candidate: improves it directly."""
        mine = self.own(draft.version(self.owner))
        others = draft.aggregate - mine.schedule
        proposal = self.decider.propose(others, mine, target, self.performance)
        if proposal.same_as(mine):
            return
        delta = proposal.schedule - mine.schedule
        if draft.rating_with(delta) > draft.perf + self.improvement_tol * max(1.0, abs(draft.perf)):
            draft.apply(self.owner, self._current_version_of(proposal), delta)

    def _pair_move(self, target: Target, draft: Draft) -> bool:
        """Combine a neighbour's offered switch with our best response to it, if the pair improves."""
        if not isinstance(self.decider, EnumerationDecider) or not self._offers_in:
            return False
        owners: list[str] = []
        offered: list[int] = []
        deltas: list[Array] = []
        for sender, offer in self._offers_in.items():
            if sender != self.owner and draft.version(sender) == offer.base:
                owners += [sender] * len(offer.versions)
                offered += offer.versions
                deltas.append(offer.deltas)
        if not owners:
            return False
        mine = self.own(draft.version(self.owner))
        offered_deltas = np.concatenate(deltas)
        others = draft.aggregate - mine.schedule + offered_deltas
        ratings, indices = self.decider.responses(others, target, self.performance)
        k = int(np.argmax(ratings))
        response = self.decider.choice(int(indices[k]))
        own_delta = response.schedule - mine.schedule
        if not draft.rating_with(offered_deltas[k] + own_delta) > draft.perf + self.improvement_tol * max(
            1.0, abs(draft.perf)
        ):
            return False
        draft.apply(owners[k], offered[k], offered_deltas[k])
        if not response.same_as(mine):
            draft.apply(self.owner, self._current_version_of(response), own_delta)
        return True

    def _prepare_offers(self, target: Target, candidate: Rated) -> None:
        """Offer our best alternatives (as changes to our schedule in the candidate), once per change."""
        if candidate.wire.ids != self.config.ids or len(candidate.wire.ids) < 2:
            return  # offers only make sense once the candidate covers everyone we know of (ids are sorted)
        assert isinstance(self.decider, EnumerationDecider)
        base = candidate.wire.counter_of(self.owner)
        mine = self.own(base)
        others = candidate.wire.aggregate - mine.schedule
        choices = self.decider.alternatives(others, mine, self.offer_count, target, self.performance)
        key = (base, tuple(c.index for c in choices if c.index is not None))
        if not choices or key == self._offered:
            return
        self._offered = key
        versions = []
        for choice in choices:
            assert choice.index is not None
            if choice.index not in self._reserved:
                self._reserved[choice.index] = self._issue(choice)
            versions.append(self._reserved[choice.index])
        deltas = np.array([c.schedule - mine.schedule for c in choices])
        self._offers_out = CohdaOffers(base=base, versions=tuple(versions), deltas=deltas)

    def _current_version_of(self, choice: Choice) -> int:
        """Our configuration version for ``choice``, recording it as our current choice if it is not."""
        current = self.config.counter(self.owner)
        if self.own(current).same_as(choice):
            return current
        return self._record(choice)

    def _set_candidate(
        self, ids: tuple[str, ...], counters: tuple[int, ...], aggregate: Array, members: frozenset[str]
    ) -> None:
        assert self.target is not None
        self.candidate = Rated.build(
            owner=self.owner, ids=ids, counters=counters, aggregate=aggregate, performance=self.performance,
            target=self.target, members=members,
        )
        self._candidate_changed = self._candidate_built = True

    # -- news --------------------------------------------------------------------------------------
    def news(self, max_entries: int, round: int) -> list[CohdaUpdate]:
        """What to publish now (nothing if nothing changed); clears the change marks."""
        assert self.target is not None
        assert self.candidate is not None
        # Others' current entries only matter to a decision against the system configuration; without
        # one, entries travel once per participant (their first version), for discovery and merging.
        chunks = self.config.take_dirty(
            max_entries, only=None if self.relay else self.owner, new_only=self.respond_to == "candidate"
        )
        send_candidate = self._candidate_changed if self.relay else self._candidate_built
        offers, self._offers_out = self._offers_out, None
        self._candidate_changed = self._candidate_built = False
        if not chunks and not send_candidate and offers is None:
            return []
        first = CohdaUpdate(
            target=None if self._target_sent else self.target.to_wire(),
            entries=chunks[0] if chunks else None,
            candidate=self.candidate.wire if send_candidate else None,
            offers=offers,
            round=round,
        )
        self._target_sent = True
        return [first, *(CohdaUpdate(entries=chunk, round=round) for chunk in chunks[1:])]
