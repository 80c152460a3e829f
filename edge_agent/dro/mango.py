"""Hosting seed participants inside mango agents (the optional extra ``mango``: ``pip install -e '.[mango]'``,
mango-agents 2.4), the framework the peer library's users run: :class:`SeedRole` is a mango role holding one
participant (an ADMM flex actor or coordinator, a consensus or COHDA participant) and its
:class:`MangoSeedCarrier`, the seed carrier interface over the agent's mango context (any mango container:
in-process, TCP, MQTT).

Participants are named by an id (``address()``, an agent id: letters, digits, ``_ . -``) and the role is told
every participant's mango address (``directory``). What travels is the typed
:class:`~edge_agent.dro._payload.DroPayload` as JSON text inside a plain dict (mango's JSON codec carries it;
nothing is pickled), with a ticket for requests and answers.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any

from mango import AgentAddress, Role

from edge_agent.dro._payload import DroPayload, decode, encode, seed_codec
from edge_agent.dro.carrier import Carrier
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.ids import validate_id

__all__ = ["MangoSeedCarrier", "SeedRole"]

MAX_TEXT = 4_000_000


class MangoSeedCarrier(Carrier):
    """The seed carrier of participant ``name`` inside a mango role."""

    def __init__(self, role: SeedRole, name: str, directory: Mapping[str, AgentAddress]) -> None:
        self.role = role
        self.name = validate_id(name)
        self.directory = dict(directory)
        self.codec = seed_codec()
        self._tickets = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}

    def address(self) -> str:
        return self.name

    def others(self, participant_id: str) -> list[Any]:
        return [p for p in self.directory if p not in (self.name, participant_id)]

    def _send(self, content: Any, receiver: Any, **extra: int) -> asyncio.Task[Any]:
        if receiver not in self.directory:
            raise ConfigError(f"no participant {receiver!r} in the directory {sorted(self.directory)[:10]}")
        message = {"dro": encode(content).model_dump_json(), "from": self.name, **extra}
        return self.spawn(self.role.context.send_message(message, self.directory[receiver]))

    def send_to_other(self, content: Any, receiver: Any, meta: dict[str, Any] | None = None) -> asyncio.Task[Any]:
        return self._send(content, receiver)

    def reply_to_other(self, content: Any, meta: dict[str, Any]) -> asyncio.Task[Any]:
        return self._send(content, meta["sender"], answer=int(meta["ticket"]))

    def send_awaitable(self, content: Any, receiver: Any, meta: dict[str, Any] | None = None) -> asyncio.Future[Any]:
        ticket = next(self._tickets)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ticket] = future
        future.add_done_callback(lambda _: self._waiting.pop(ticket, None))
        self._send(content, receiver, ticket=ticket)
        return future

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = self.role.context.schedule_instant_task(coroutine)
        return task

    async def arrive(self, message: dict[str, Any]) -> None:
        text, sender = message.get("dro"), message.get("from")
        if not isinstance(text, str) or len(text) > MAX_TEXT or not isinstance(sender, str):
            raise ProtocolError("a seed message needs 'dro' (JSON text, bounded) and 'from' (an id)")
        content = decode(DroPayload.model_validate_json(text), self.codec)
        answer = message.get("answer")
        if isinstance(answer, int):
            future = self._waiting.pop(answer, None)
            if future is not None and not future.done():
                future.set_result(content)
            return
        await self.role.actor.on_exchange_message(self, content, {"sender": sender, "ticket": message.get("ticket")})


class SeedRole(Role):
    """A mango role running seed participant ``actor`` as ``name``; ``directory`` maps every participant's
    name to its mango address (this one's included)."""

    def __init__(self, actor: Any, name: str, directory: Mapping[str, AgentAddress]) -> None:
        super().__init__()
        self.actor = actor
        self._name = name
        self._directory = directory
        self.carrier: MangoSeedCarrier | None = None

    def setup(self) -> None:
        self.carrier = MangoSeedCarrier(self, self._name, self._directory)

    def handle_message(self, content: Any, meta: dict[str, Any]) -> None:
        if isinstance(content, dict) and "dro" in content and self.carrier is not None:
            self.carrier.spawn(self.carrier.arrive(content))
