"""Wire messages of COHDA: a start message and one gossip update that carries only what changed.

An update has up to three optional parts:

- ``target``: the target and weights, sent in a participant's first update only;
- ``entries``: system-configuration entries (participant, version counter, schedule) that changed
  since the sender's previous update;
- ``candidate``: the sender's best solution candidate, when it changed, as a *version vector*
  (participant -> counter) plus the candidate's aggregate schedule. ``(participant, counter)``
  names one schedule for good (only its owner bumps its counter), so the rows themselves never
  travel with a candidate: a message grows with N only by one id and one integer per participant.

Sizes (measured with :func:`edge_agent.codec.encode`, N = 100 participants, 96 slots): an update with
one changed entry and a candidate is about 3 KB; the largest possible update (all 100 entries, the
target and a candidate) about 107 KB. Participants split larger entry sets over several updates
(``CohdaParticipant.max_entries_per_message``), so no update exceeds ~128 KiB whatever N is.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_agent.messages import FloatMatrix, FloatVector, Message

__all__ = ["CohdaCandidate", "CohdaStart", "CohdaTarget", "CohdaUpdate", "ScheduleEntries"]


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

    ids: tuple[str, ...]
    counters: tuple[int, ...]
    rows: FloatMatrix

    @model_validator(mode="after")
    def _check(self) -> ScheduleEntries:
        _check_ids(self.ids, self.counters, "schedule entries")
        if self.rows.shape[0] != len(self.ids):
            msg = f"schedule entries: {self.rows.shape[0]} rows for {len(self.ids)} ids"
            raise ValueError(msg)
        if any(c < 1 for c in self.counters):
            msg = "schedule entries: counters start at 1"
            raise ValueError(msg)
        return self


class CohdaCandidate(_Part):
    """A solution candidate: participant ``ids[k]`` runs its schedule version ``counters[k]``.

    ``owner`` built this candidate; ``aggregate`` is the sum of the member schedules. The performance is
    recomputed by every receiver from the aggregate, never taken from the wire.
    """

    owner: str
    ids: tuple[str, ...]
    counters: tuple[int, ...]
    aggregate: FloatVector

    @model_validator(mode="after")
    def _check(self) -> CohdaCandidate:
        _check_ids(self.ids, self.counters, "candidate")
        if not self.ids:
            msg = "candidate: a candidate has at least one member"
            raise ValueError(msg)
        if any(c < 1 for c in self.counters):
            msg = "candidate: counters start at 1"
            raise ValueError(msg)
        return self

    def counter_of(self, participant: str) -> int:
        """The member's schedule version in this candidate, 0 if it is not a member."""
        try:
            return self.counters[self.ids.index(participant)]
        except ValueError:
            return 0

    def same_choice(self, other: CohdaCandidate) -> bool:
        """Whether both candidates choose the same schedule versions for the same participants."""
        return dict(zip(self.ids, self.counters, strict=True)) == dict(zip(other.ids, other.counters, strict=True))


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
    round: int = Field(0, ge=0, description="the sender's decision count when it sent this (diagnostics)")
