"""What every fully distributed algorithm needs to serve runs on a device over time (consensus, COHDA).

A device agent may take part in several runs, each on its own graph: :class:`RunTable` keeps them (the
newest ``kept``), subscribes each to its in-neighbours' gossip and shares the subscriptions among the runs; a
launcher asks every participant the same thing at once (:func:`ask`); join messages name run ids and
in-neighbours the same way.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Generic, Protocol, TypeVar

import structlog
from pydantic import AfterValidator, Field

from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError, RunTimeout
from edge_agent.messages import Message

__all__ = ["HeldRun", "InNeighbours", "RunId", "RunTable", "ask"]

log = structlog.get_logger("edge_agent.device")

RunId = Annotated[str, Field(min_length=1, max_length=128)]


def _distinct(value: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(value)) != len(value):
        msg = f"in_neighbours lists a sender twice: {list(value)}"
        raise ValueError(msg)
    return value


InNeighbours = Annotated[
    tuple[str, ...],
    AfterValidator(_distinct),
    Field(description="whose gossip the device hears (its subscriptions)"),
]


class HeldRun(Protocol):
    """What :class:`RunTable` needs of a run: its view of the device's carrier and whose gossip it hears."""

    @property
    def carrier(self) -> RunCarrier: ...

    @property
    def in_neighbours(self) -> tuple[str, ...]: ...


R = TypeVar("R", bound=HeldRun)


class RunTable(Generic[R]):
    """The runs one device takes part in, oldest first: at most ``kept`` (a newer run pushes out the oldest).

    Each run subscribes its carrier to its in-neighbours' gossip; the runs share the subscriptions, and one goes
    when no run needs it any more. ``settle`` (optional) waits until the transport confirmed the subscriptions
    made so far (over MQTT the broker's SUBACKs), so a device acknowledges a join only once it really hears its
    in-neighbours."""

    def __init__(self, owner: str, kept: int, settle: Callable[[], Awaitable[None]] | None = None) -> None:
        if kept < 1:
            raise ConfigError(f"runs_kept must be >= 1, got {kept}")
        self._owner = owner
        self._kept = kept
        self._settle = settle
        self._runs: OrderedDict[str, R] = OrderedDict()
        self._runs_per_sender: Counter[str] = Counter()

    def get(self, run_id: str | None) -> R | None:
        return None if run_id is None else self._runs.get(run_id)

    def ids(self) -> list[str]:
        return list(self._runs)

    async def admit(self, run_id: str, run: R) -> str | None:
        """Keep ``run`` and subscribe it, push out the oldest runs beyond ``kept``, wait for ``settle``. Returns
        None, or why the run cannot be kept (it is forgotten again)."""
        self._runs[run_id] = run
        self._runs_per_sender.update(run.in_neighbours)
        run.carrier.subscribe(run.in_neighbours)
        while len(self._runs) > self._kept:
            oldest = next(iter(self._runs))
            log.warning("device.run_evicted", participant=self._owner, run=oldest, kept=self._kept)
            self.forget(oldest)
        if self._settle is not None:
            try:
                await self._settle()
            except EdgeAgentError as error:
                self.forget(run_id)
                return f"cannot subscribe: {error}"
        return None

    def forget(self, run_id: str) -> R | None:
        """Drop the run (if kept) and the subscriptions no other run needs; the run, or None."""
        run = self._runs.pop(run_id, None)
        if run is None:
            return None
        senders = list(run.in_neighbours)
        self._runs_per_sender.subtract(senders)
        unused = [sender for sender in senders if self._runs_per_sender[sender] <= 0]
        for sender in unused:
            del self._runs_per_sender[sender]
        if unused:
            run.carrier.unsubscribe(unused)
        return run


async def ask(view: Carrier, requests: Mapping[str, Message], within_s: float) -> dict[str, Message | None]:
    """Send each request, wait for every answer; ``None`` for those that did not answer in time."""
    futures = {pid: view.request(body, pid, timeout=within_s) for pid, body in requests.items()}
    answers: dict[str, Message | None] = {}
    for pid, future in futures.items():
        try:
            answers[pid] = await future
        except RunTimeout:
            answers[pid] = None
    return answers
