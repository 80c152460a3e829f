"""Wire messages of COHDA: a start message and one gossip update that carries only what changed.

An update has up to four optional parts:

- ``target``: the target and weights, sent in a participant's first update only;
- ``entries``: system-configuration entries (participant, version counter, schedule) that changed
  since the sender's previous update;
- ``candidate``: the sender's best solution candidate, when it changed, as a *version vector*
  (participant -> counter) plus the candidate's aggregate schedule. ``(participant, counter)``
  names one schedule for good (only its owner bumps its counter), so the rows themselves never
  travel with a candidate: a message grows with N only by one id and one integer per participant,
  plus the candidate's last few *moves* (participant, old and new version, change of the aggregate);
- ``offers``: a few alternative schedules of the sender, as changes to its current one, for pair moves
  (never relayed).

Sizes (measured with :func:`edge_agent.codec.encode`, N = 100 participants, 96 slots): an update with
one changed entry and a candidate is about 3 KB; the largest possible update (all 100 entries, the
target and a candidate) about 107 KB. Participants split larger entry sets over several updates
(``CohdaParticipant.max_entries_per_message``), so no update exceeds ~128 KiB whatever N is.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from edge_agent.ids import AgentId
from edge_agent.messages import FloatMatrix, FloatVector, Message

__all__ = [
    "CohdaCandidate",
    "CohdaMoves",
    "CohdaOffers",
    "CohdaStart",
    "CohdaTarget",
    "CohdaUpdate",
    "ScheduleEntries",
]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def _check_ids(ids: tuple[str, ...], counters: tuple[int, ...], what: str) -> None:
    if len(ids) != len(counters):
        msg = f"{what}: {len(ids)} ids but {len(counters)} counters; give one counter per id"
        raise ValueError(msg)
    if len(set(ids)) != len(ids):
        msg = f"{what}: participant ids repeat; each participant appears at most once"
        raise ValueError(msg)


class CohdaTarget(_Part):
    """The schedule the aggregate should follow and the weight of a deviation in each slot."""

    values: FloatVector
    weights: FloatVector

    @model_validator(mode="after")
    def _check(self) -> CohdaTarget:
        if self.values.size == 0:
            msg = "the target needs at least one slot"
            raise ValueError(msg)
        if self.weights.shape != self.values.shape:
            msg = f"weights has {self.weights.size} entries but the target has {self.values.size}; they must match"
            raise ValueError(msg)
        if (self.weights < 0).any():
            msg = "weights must be >= 0"
            raise ValueError(msg)
        return self


class ScheduleEntries(_Part):
    """System-configuration entries: ``rows[k]`` is participant ``ids[k]``'s schedule, version ``counters[k]``."""

    ids: tuple[AgentId, ...]
    counters: tuple[int, ...]
    rows: FloatMatrix

    @model_validator(mode="after")
    def _check(self) -> ScheduleEntries:
        _check_ids(self.ids, self.counters, "schedule entries")
        if self.rows.shape[0] != len(self.ids):
            msg = f"schedule entries: {self.rows.shape[0]} rows for {len(self.ids)} ids"
            raise ValueError(msg)
        if self.counters and min(self.counters) < 1:
            msg = "schedule entries: counters start at 1"
            raise ValueError(msg)
        return self


class CohdaMoves(_Part):
    """How a candidate was reached from the ones it was built on: participant ``ids[k]`` went from version
    ``before[k]`` to ``after[k]``, changing the aggregate by ``deltas[k]``. A receiver holding another
    candidate applies the moves that fit it (``before`` matches): parallel improvements combine."""

    ids: tuple[AgentId, ...] = Field(min_length=1)
    before: tuple[int, ...]
    after: tuple[int, ...]
    deltas: FloatMatrix

    @model_validator(mode="after")
    def _check(self) -> CohdaMoves:
        _check_ids(self.ids, self.after, "moves")
        if len(self.before) != len(self.ids) or self.deltas.shape[0] != len(self.ids):
            msg = f"moves: {len(self.ids)} ids, {len(self.before)} before, {self.deltas.shape[0]} deltas"
            raise ValueError(msg)
        if min(self.before) < 1 or min(self.after) < 1:
            msg = "moves: versions start at 1"
            raise ValueError(msg)
        return self


class CohdaCandidate(_Part):
    """A solution candidate: participant ``ids[k]`` runs its schedule version ``counters[k]``.

    ``owner`` built this candidate; ``aggregate`` is the sum of the member schedules. The performance is
    recomputed by every receiver from the aggregate, never taken from the wire.
    """

    owner: str
    ids: tuple[AgentId, ...]
    counters: tuple[int, ...]
    aggregate: FloatVector
    moves: CohdaMoves | None = None

    @model_validator(mode="after")
    def _check(self) -> CohdaCandidate:
        _check_ids(self.ids, self.counters, "candidate")
        if not self.ids:
            msg = "candidate: a candidate has at least one member"
            raise ValueError(msg)
        if min(self.counters) < 1:
            msg = "candidate: counters start at 1"
            raise ValueError(msg)
        return self

    _positions: dict[str, int] | None = PrivateAttr(None)  # member -> index, built on first use

    def positions(self) -> dict[str, int]:
        """Member id -> index in ``ids`` (computed once per candidate)."""
        private = self.__pydantic_private__  # the plain dict behind ``_positions``: the hot path skips __getattr__
        positions: dict[str, int] | None = private["_positions"] if private else None
        if positions is None:
            positions = {pid: k for k, pid in enumerate(self.ids)}
            self._positions = positions
        return positions

    def share_positions(self, positions: dict[str, int]) -> None:
        """Reuse the index of a candidate with the very same ``ids`` tuple."""
        self._positions = positions

    def counter_of(self, participant: str) -> int:
        """The member's schedule version in this candidate, 0 if it is not a member."""
        k = self.positions().get(participant)
        return 0 if k is None else self.counters[k]

    def same_choice(self, other: CohdaCandidate) -> bool:
        """Whether both candidates choose the same schedule versions for the same participants."""
        return dict(zip(self.ids, self.counters, strict=True)) == dict(zip(other.ids, other.counters, strict=True))


class CohdaOffers(_Part):
    """Pair-move offers: "I could switch from my version ``base`` to version ``versions[k]``, which changes
    the aggregate by ``deltas[k]``". A neighbour combines an offer with its own best response; if the pair
    beats its candidate, it builds the new candidate (COHDA extension, see ``docs/cohda.md``)."""

    base: int = Field(ge=1)
    versions: tuple[int, ...] = Field(min_length=1)
    deltas: FloatMatrix

    @model_validator(mode="after")
    def _check(self) -> CohdaOffers:
        if self.deltas.shape[0] != len(self.versions):
            msg = f"offers: {self.deltas.shape[0]} deltas for {len(self.versions)} versions"
            raise ValueError(msg)
        if min(self.versions) < 1:
            msg = "offers: versions start at 1"
            raise ValueError(msg)
        return self


class CohdaStart(Message):
    """Starts a run at the participant it is sent to."""

    kind: Literal["cohda.start"] = "cohda.start"
    target: CohdaTarget


class CohdaUpdate(Message):
    """Gossip from one participant to its subscribers: what changed in its working memory."""

    kind: Literal["cohda.update"] = "cohda.update"
    target: CohdaTarget | None = None
    entries: ScheduleEntries | None = None
    candidate: CohdaCandidate | None = None
    offers: CohdaOffers | None = None
    round: int = Field(0, ge=0, description="the sender's decision count when it sent this (diagnostics)")
