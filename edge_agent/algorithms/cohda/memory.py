"""A participant's working memory: the system configuration and solution candidates, with COHDA's merge rules.

- :class:`SystemConfig` holds every known participant's latest schedule with its version counter;
  merging keeps the higher counter per participant. It keeps the sum of all rows up to date
  incrementally (refreshed from scratch now and then so rounding cannot drift), which is what makes a
  decision O(T) instead of O(N T).
- :class:`Rated` is a candidate with its performance (computed locally) and its member set.
- :func:`merge_candidates`: a candidate whose members are a strict superset wins; equal member sets
  compare performance, then the lower owner id, then (only for exact ties) the version vector, which
  makes the order total so every participant ends with the same candidate; otherwise the other
  candidate's extra members are merged in.
"""

from __future__ import annotations

import numpy as np

from edge_agent.algorithms.cohda.messages import CohdaCandidate, ScheduleEntries
from edge_agent.algorithms.cohda.performance import Array, Performance, Target, rate
from edge_agent.errors import ProtocolError

__all__ = ["Rated", "SystemConfig", "candidate_beats", "extend", "merge_candidates"]


class SystemConfig:
    """Latest known schedule and version counter of every participant heard of (array-backed)."""

    def __init__(self, horizon: int) -> None:
        self.horizon = horizon
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        self._counters = np.zeros(8, dtype=np.int64)
        self._rows = np.zeros((8, horizon))
        self.total = np.zeros(horizon)
        self._dirty: dict[int, None] = {}
        self._new: dict[int, None] = {}
        self._updates = 0
        self._ids_tuple: tuple[str, ...] | None = None
        self._order = np.zeros(0, dtype=np.int64)
        self._members: frozenset[str] | None = None

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every known participant, sorted (candidates list their members in this canonical order)."""
        if self._ids_tuple is None:
            self._order = np.array(sorted(range(len(self._ids)), key=self._ids.__getitem__), dtype=np.int64)
            self._ids_tuple = tuple(self._ids[i] for i in self._order)
        return self._ids_tuple

    @property
    def members(self) -> frozenset[str]:
        if self._members is None:
            self._members = frozenset(self._ids)
        return self._members

    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    def counter(self, participant: str) -> int:
        index = self._index.get(participant)
        return 0 if index is None else int(self._counters[index])

    def row(self, participant: str) -> Array:
        return np.asarray(self._rows[self._index[participant]], dtype=np.float64)

    def counters(self) -> tuple[int, ...]:
        """The version of every participant, in the order of :attr:`ids`."""
        _ = self.ids
        return tuple(self._counters[self._order].tolist())

    def set(self, participant: str, counter: int, row: Array) -> None:
        index = self._index.get(participant)
        if index is None:
            index = self._add(participant)
        else:
            self.total -= self._rows[index]
        self._rows[index] = row
        self._counters[index] = counter
        self.total += self._rows[index]
        self._dirty[index] = None
        self._counted(1)

    def merge(self, entries: ScheduleEntries, me: str, sender: str) -> bool:
        """Adopt every entry newer than ours (vectorised); True if anything changed.

        An entry for ``me`` newer than our own version means a second participant uses our id.
        """
        if entries.rows.shape[1] != self.horizon:
            msg = f"schedules have {entries.rows.shape[1]} slots, the target has {self.horizon}"
            raise ProtocolError(msg, sender=sender)
        get = self._index.get
        found = [get(participant, -1) for participant in entries.ids]
        if -1 in found:
            found = [self._add(p) if i < 0 else i for p, i in zip(entries.ids, found, strict=True)]
        where = np.array(found, dtype=np.int64)
        counters = np.array(entries.counters, dtype=np.int64)
        newer = counters > self._counters[where]
        if not newer.any():
            return False
        chosen = where[newer]
        own = self._index.get(me)
        if own is not None and own in chosen:
            msg = (
                f"an entry for {me!r} has version {int(counters[where == own][0])}, newer than {me!r} itself "
                "has made; two participants use the same id"
            )
            raise ProtocolError(msg, sender=sender)
        rows = entries.rows[newer]
        self.total += (rows - self._rows[chosen]).sum(axis=0)
        self._rows[chosen] = rows
        self._counters[chosen] = counters[newer]
        self._dirty.update(dict.fromkeys(chosen.tolist()))
        self._counted(int(chosen.size))
        return True

    def _counted(self, updates: int) -> None:
        """Refresh the running total from scratch once per ``len(self)`` incremental updates."""
        self._updates += updates
        if self._updates >= max(32, len(self._ids)):
            self.total = self._rows[: len(self._ids)].sum(axis=0)
            self._updates = 0

    def take_dirty(self, limit: int, *, only: str | None = None, new_only: bool = False) -> list[ScheduleEntries]:
        """The entries changed since the last call, in chunks of at most ``limit``; clears the marks.

        ``only`` restricts them to that participant's own entry (no relaying of others' entries);
        ``new_only`` to participants first heard of since the last call.
        """
        indexes = list(self._new if new_only else self._dirty)
        self._dirty.clear()
        self._new.clear()
        if only is not None:
            own = self._index.get(only)
            indexes = [own] if own is not None and own in indexes else []
        return [
            ScheduleEntries(
                ids=tuple(self._ids[i] for i in chunk),
                counters=tuple(self._counters[chunk].tolist()),
                rows=self._rows[chunk],
            )
            for chunk in (indexes[s : s + limit] for s in range(0, len(indexes), limit))
        ]

    def _add(self, participant: str) -> int:
        index = len(self._ids)
        if index == self._counters.size:
            self._counters = np.concatenate([self._counters, np.zeros(index, dtype=np.int64)])
            self._rows = np.concatenate([self._rows, np.zeros((index, self.horizon))])
        self._index[participant] = index
        self._ids.append(participant)
        self._new[index] = None
        self._ids_tuple = None
        self._members = None
        return index


class Rated:
    """A candidate with the performance this participant computed for it; its member set on demand."""

    __slots__ = ("_members", "perf", "wire")

    def __init__(self, wire: CohdaCandidate, perf: float, members: frozenset[str] | None = None) -> None:
        self.wire = wire
        self.perf = perf
        self._members = members

    @property
    def members(self) -> frozenset[str]:
        if self._members is None:
            self._members = frozenset(self.wire.ids)
        return self._members

    def known_members(self) -> frozenset[str] | None:
        """The member set if it was computed already (to share with a candidate on the same ids)."""
        return self._members

    @classmethod
    def of(cls, wire: CohdaCandidate, performance: Performance, target: Target) -> Rated:
        return cls(wire, rate(performance, wire.aggregate, target))

    @classmethod
    def build(
        cls,
        *,
        owner: str,
        ids: tuple[str, ...],
        counters: tuple[int, ...],
        aggregate: Array,
        performance: Performance,
        target: Target,
        members: frozenset[str] | None = None,
    ) -> Rated:
        frozen = np.array(aggregate, dtype=np.float64)
        frozen.flags.writeable = False
        # Built by this participant from validated parts (sorted unique ids, versions >= 1): validating
        # a 1000-member candidate again would dominate the cost of a decision.
        wire = CohdaCandidate.model_construct(owner=owner, ids=ids, counters=counters, aggregate=frozen, moves=None)
        return cls(wire, rate(performance, frozen, target), members)


def candidate_beats(x: Rated, y: Rated) -> bool:
    """The total order on candidates with equal member sets: higher performance, lower owner id, content."""
    if x.perf != y.perf:
        return x.perf > y.perf
    if x.wire.owner != y.wire.owner:
        return x.wire.owner < y.wire.owner
    return _content(x) > _content(y)


def _content(x: Rated) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(zip(x.wire.ids, x.wire.counters, strict=True)))


def merge_candidates(
    mine: Rated, theirs: Rated, *, me: str, config: SystemConfig, performance: Performance, target: Target
) -> Rated:
    """COHDA's candidate merge; returns ``mine`` itself when nothing changes.

    In the merge case the extra members take the schedules of our (already merged) system
    configuration; members it does not know yet are left out and join later through the
    configuration, so a message that overtakes another never blocks the merge.
    """
    if theirs.wire is mine.wire:
        return mine
    if theirs.wire.ids == mine.wire.ids:  # the usual case: ids are sorted, so equal tuples = equal sets
        return theirs if candidate_beats(theirs, mine) else mine
    a, b = mine.members, theirs.members
    if len(a) < len(b) and a < b:
        return theirs
    if len(a) == len(b) and a == b:
        return theirs if candidate_beats(theirs, mine) else mine
    extra = [p for p in b - a if config.counter(p) > 0]
    if not extra:
        return mine
    return extend(mine, extra, me=me, config=config, performance=performance, target=target)


def extend(
    mine: Rated, extra: list[str], *, me: str, config: SystemConfig, performance: Performance, target: Target
) -> Rated:
    """``mine`` plus the participants ``extra`` (all known to ``config``) with the configuration's schedules."""
    aggregate = mine.wire.aggregate + np.sum([config.row(p) for p in extra], axis=0)
    versions = dict(zip(mine.wire.ids, mine.wire.counters, strict=True))
    versions.update((p, config.counter(p)) for p in extra)
    ids = tuple(sorted(versions))
    return Rated.build(
        owner=me,
        ids=ids,
        counters=tuple([versions[p] for p in ids]),
        aggregate=aggregate,
        performance=performance,
        target=target,
        members=mine.members | frozenset(extra),
    )
