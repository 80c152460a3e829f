"""What every fully distributed algorithm needs to serve runs on a device over time (consensus, COHDA).

A device agent may take part in several runs, each on its own graph: the runs' in-neighbours share the
device's gossip subscriptions (:class:`SharedSubscriptions`); a launcher asks every participant the
same thing at once (:func:`ask`); join messages name run ids and in-neighbours the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Annotated

from pydantic import AfterValidator, Field

from edge_agent.carrier.base import Carrier
from edge_agent.errors import RunTimeout
from edge_agent.messages import Message

__all__ = ["InNeighbours", "RunId", "SharedSubscriptions", "ask"]

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


class SharedSubscriptions:
    """Counts, per sender, the runs that need its gossip; a subscription goes when no run needs it."""

    def __init__(self) -> None:
        self._runs_per_sender: Counter[str] = Counter()

    def hold(self, senders: Iterable[str]) -> None:
        self._runs_per_sender.update(senders)

    def release(self, carrier: Carrier, senders: Iterable[str]) -> None:
        senders = list(senders)
        self._runs_per_sender.subtract(senders)
        unused = [sender for sender in senders if self._runs_per_sender[sender] <= 0]
        for sender in unused:
            del self._runs_per_sender[sender]
        if unused:
            carrier.unsubscribe(unused)


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
