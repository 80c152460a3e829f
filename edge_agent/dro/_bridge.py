"""This project's carrier interface over a seed carrier: how the adapters run the engine's participants.

The engine's participants send typed :class:`~edge_agent.messages.Envelope` objects; here each travels as the
payload of a seed carrier (a :class:`Wire`) using only the seed's four abstract methods: a request goes out
with ``send_awaitable`` and its reply comes back through ``reply_to_other`` (the way the seed's ADMM talks),
a publication goes to every address ``others`` lists, anything else with ``send_to_other``. An engine id is
the string form of the carrier address (``"1"``, ``"2"``, ... on a :class:`SimpleCarrier`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from edge_agent.carrier.base import GOSSIP, Participant
from edge_agent.carrier.base import Carrier as EngineCarrierBase
from edge_agent.clock import LoopClock
from edge_agent.dro.carrier import Carrier
from edge_agent.errors import ConfigError, ProtocolError, RunTimeout
from edge_agent.messages import Envelope, Message

__all__ = ["EngineCarrier", "Named", "Wire"]

T = TypeVar("T")


@dataclass(frozen=True)
class Wire:
    """One engine envelope on a seed carrier, with the run's start data (what late starters build from)."""

    envelope: Envelope
    data: Any = None


class Named:
    """An engine participant answering to the id its carrier address gives it."""

    def __init__(self, id: str, inner: Participant) -> None:
        self._id = id
        self.inner = inner

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: EngineCarrierBase, message: Message, envelope: Envelope) -> None:
        await self.inner.handle(carrier, message, envelope)


class EngineCarrier(EngineCarrierBase):
    """The engine's :class:`~edge_agent.carrier.base.Carrier` for one participant, over seed carrier ``outer``."""

    def __init__(self, outer: Carrier, participant: Participant, own: Any, data: Any = None) -> None:
        super().__init__(participant, LoopClock())
        self.outer = outer
        self.own = own
        self.data = data
        self._metas: dict[str, dict[str, Any]] = {}  # request id -> the seed meta its reply needs
        self._addresses: dict[str, Any] = {}

    def _outer_others(self) -> list[Any]:
        addresses = list(self.outer.others(str(self.own)))
        self._addresses.update((str(a), a) for a in addresses)
        return addresses

    def _address(self, engine_id: str) -> Any:
        if engine_id not in self._addresses:
            self._outer_others()
        if engine_id not in self._addresses:
            msg = f"no participant {engine_id!r} among the carrier's others {sorted(self._addresses)[:10]}"
            raise ConfigError(msg)
        return self._addresses[engine_id]

    def _transmit(self, envelope: Envelope) -> None:
        wire = Wire(envelope, self.data)
        if envelope.receiver == GOSSIP:
            for address in self._outer_others():
                self.outer.send_to_other(wire, address)
        elif envelope.in_reply_to is not None and envelope.in_reply_to in self._metas:
            self.outer.reply_to_other(wire, self._metas.pop(envelope.in_reply_to))
        elif envelope.id in self._pending:
            future = self.outer.send_awaitable(wire, self._address(envelope.receiver))
            future.add_done_callback(partial(self._answered, envelope.receiver))
        else:
            self.outer.send_to_other(wire, self._address(envelope.receiver))

    def _answered(self, receiver: str, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self.fail_requests(receiver, RunTimeout(f"the request to {receiver!r} was cancelled",
                                                    participants=(receiver,)))
            return
        error = future.exception()
        if error is not None:
            self.fail_requests(receiver, error if isinstance(error, Exception) else RuntimeError(str(error)))
            return
        content = future.result()
        if not isinstance(content, Wire):
            self.fail_requests(receiver, ProtocolError(f"the reply is not one of ours: {content!r:.80}",
                                                       sender=receiver))
            return
        handler = self._receive(content.envelope)
        if handler is not None:  # not a reply after all: nobody handles it here
            handler.close()

    def deliver(self, wire: Wire, meta: Any) -> Coroutine[Any, Any, None] | None:
        """Hand an arrived envelope to the engine; the participant's handler to await, if any."""
        envelope = wire.envelope
        if envelope.receiver != GOSSIP and envelope.in_reply_to is None and isinstance(meta, dict):
            self._metas[envelope.id] = meta
        return self._receive(envelope)

    def subscribe(self, senders: Iterable[str]) -> None:
        """Publications go to every address the seed carrier lists: receivers drop strangers themselves."""

    def others(self) -> list[str]:
        return [str(a) for a in self._outer_others()]

    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        return self.outer.spawn(coroutine)

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        return function(*args)
