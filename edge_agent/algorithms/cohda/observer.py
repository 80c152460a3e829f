"""Distributed termination: an observer that only listens declares the end of a COHDA run.

In one process the end is quiescence (nothing queued or being handled). Over a network no process
sees that, so the rule is:

    the run has ended when the observer's own merge of everything it heard is a candidate covering
    every expected participant, and nothing it heard changed its working memory for ``quiet_s``
    seconds of its clock.

The observer subscribes to every participant (over MQTT: one wildcard subscription), merges
configuration entries and candidates with the participants' own rules, never decides and never
sends. Every candidate any participant builds is published by its builder, so the observer's
candidate is the best one built; once no news arrives, it is the candidate every participant
converges to. The observer then announces it (the caller does; e.g. a retained "result" message).

Failure modes (see ``docs/cohda.md``):

- *premature end*: a participant still busy deciding, or a message delayed, for longer than
  ``quiet_s``. Choose ``quiet_s`` above the worst decide time plus the worst delivery latency.
- *no end*: a participant that never starts, crashed or is partitioned away never shows up in a
  candidate; :meth:`CohdaObserver.wait` raises :class:`RunTimeout` at its deadline naming those silent.
- *lost messages* (QoS 0, observer reconnects): the observer may miss the best candidate and
  announce a worse one, or wait in vain; use QoS 1 and a persistent session for the observer.
- *the observer itself fails*: participants keep their (agreed) candidates; a restarted observer
  needs a full-state request, which this module does not do yet.
"""

from __future__ import annotations

from collections.abc import Iterable

from edge_agent.algorithms.cohda.memory import Rated, SystemConfig, merge_candidates
from edge_agent.algorithms.cohda.messages import CohdaCandidate, CohdaStart, CohdaUpdate
from edge_agent.algorithms.cohda.performance import Performance, Target, weighted_l1
from edge_agent.carrier.base import Carrier
from edge_agent.clock import Clock
from edge_agent.errors import ConfigError, RunTimeout
from edge_agent.messages import Envelope, Message

__all__ = ["CohdaObserver"]


class CohdaObserver:
    """A listening participant; subscribe it to every participant, then ``await observer.wait(...)``."""

    def __init__(
        self,
        id: str,
        expected: Iterable[str],
        clock: Clock,
        *,
        quiet_s: float,
        performance: Performance = weighted_l1,
    ) -> None:
        self.expected = frozenset(expected)
        if not self.expected or quiet_s <= 0:
            msg = "the observer needs the expected participant ids and quiet_s > 0"
            raise ConfigError(msg)
        self._id = id
        self.clock = clock
        self.quiet_s = quiet_s
        self.performance = performance
        self.target: Target | None = None
        self.config: SystemConfig | None = None
        self.candidate: Rated | None = None
        self.heard: set[str] = set()
        self.last_change = clock.now()

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, CohdaStart):
            return
        if not isinstance(message, CohdaUpdate):
            return
        self.heard.add(envelope.sender)
        if message.target is not None and self.target is None:
            self.target = Target.from_wire(message.target)
            self.config = SystemConfig(self.target.horizon)
        if self.target is None or self.config is None:
            return  # nothing can be rated before the target is known; the sender repeats its news
        changed = False
        if message.entries is not None:
            changed = self.config.merge(message.entries, self.id, envelope.sender)
        if message.candidate is not None:
            theirs = Rated.of(message.candidate, self.performance, self.target)
            if self.candidate is None:
                self.candidate, changed = theirs, True
            else:
                merged = merge_candidates(
                    self.candidate, theirs, me=self.id, config=self.config, performance=self.performance,
                    target=self.target,
                )
                changed = changed or merged is not self.candidate
                self.candidate = merged
        if changed:
            self.last_change = self.clock.now()

    def complete(self) -> bool:
        return self.candidate is not None and self.expected <= self.candidate.members

    async def wait(self, timeout_s: float) -> CohdaCandidate:
        """The final candidate, once complete and stable for ``quiet_s``; RunTimeout after ``timeout_s``."""
        deadline = self.clock.now() + timeout_s
        while True:
            now = self.clock.now()
            quiet_for = now - self.last_change
            if self.complete() and quiet_for >= self.quiet_s:
                assert self.candidate is not None
                return self.candidate.wire
            if now >= deadline:
                silent = sorted(self.expected - self.heard)
                missing = sorted(self.expected - (self.candidate.members if self.candidate else frozenset()))
                msg = (
                    f"COHDA did not settle within {timeout_s:g} s: never heard from {silent or 'nobody'}; "
                    f"missing from the best candidate: {missing or 'nobody'}"
                )
                raise RunTimeout(msg, participants=tuple(silent or missing))
            wait = self.quiet_s - quiet_for if self.complete() else self.quiet_s
            await self.clock.sleep(max(1e-3, min(wait, deadline - now)))
