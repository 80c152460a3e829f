"""The seed's carrier API: :class:`Carrier`, :class:`EventWithValue`, :class:`SimpleCarrier`, :class:`ActorContainer`.

A seed carrier moves arbitrary Python payloads between participants addressed by carrier-specific addresses
(1-indexed integers for :class:`SimpleCarrier`). The adapters of this package carry this project's typed
envelopes over such a carrier (:mod:`edge_agent.dro._bridge`), so every carrier written against the seed's
abstract methods runs them.

Every dispatch task is owned by its :class:`ActorContainer`: the container counts them (``active_tasks``),
sets ``done_event`` when none is left, and keeps the first error a handler raised, which
:func:`start_distributed_optimization` and :func:`start_coordinated_optimization` raise again.
"""

from __future__ import annotations

import asyncio
import itertools
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import structlog

from edge_agent.errors import ConfigError

if TYPE_CHECKING:
    from edge_agent.dro.core import Coordinator, DistributedAlgorithm

__all__ = [
    "ActorContainer",
    "Carrier",
    "EventWithValue",
    "SimpleCarrier",
    "cid",
    "start_coordinated_optimization",
    "start_distributed_optimization",
]

log = structlog.get_logger("edge_agent.dro")


class EventWithValue:
    """An :class:`asyncio.Event` paired with the value it carries once set."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> Any:
        await self.event.wait()
        return self.value


class Carrier(ABC):
    """The seed's abstract carrier: four abstract methods, and ``sleep``, ``spawn``, ``wait_for``.

    Not in the seed: :meth:`address`, this participant's own address. Fully distributed runs (consensus,
    COHDA) need it to name themselves to their peers; a carrier that does not override it runs coordinated
    (ADMM) runs only, and a distributed run over it fails with a :class:`ConfigError` saying so.
    """

    @abstractmethod
    def send_to_other(self, content: Any, receiver: Any, meta: dict[str, Any] | None = None) -> asyncio.Task[Any]:
        """Send ``content`` to ``receiver`` (fire and forget); the task performing the dispatch."""

    @abstractmethod
    def reply_to_other(self, content: Any, meta: dict[str, Any]) -> asyncio.Task[Any]:
        """Reply to the sender recorded in ``meta`` (the metadata of the message answered)."""

    @abstractmethod
    def send_awaitable(self, content: Any, receiver: Any, meta: dict[str, Any] | None = None) -> asyncio.Future[Any]:
        """Send ``content``; the future resolves to the first reply to this very message."""

    @abstractmethod
    def others(self, participant_id: str) -> list[Any]:
        """Every participant address except ``participant_id``'s."""

    def address(self) -> Any:
        msg = (f"{type(self).__name__} does not tell its own address: override Carrier.address() to run fully "
               "distributed algorithms (consensus, COHDA) over it")
        raise ConfigError(msg)

    def sleep(self, seconds: float) -> Any:
        """An awaitable that resolves after ``seconds`` of this carrier's clock."""
        return asyncio.sleep(seconds)

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        """Run a long-lived driver coroutine as a task (the base: a plain event-loop task)."""
        return asyncio.get_running_loop().create_task(coroutine)

    async def wait_for(self, awaitable: asyncio.Future[Any] | EventWithValue) -> Any:
        """Await ``awaitable``, unwrapping an :class:`EventWithValue`."""
        if isinstance(awaitable, EventWithValue):
            return await awaitable.wait()
        return await awaitable


class ActorContainer:
    """The :class:`SimpleCarrier` instances of one run, and the dispatch tasks they started."""

    def __init__(self) -> None:
        self.actors: list[SimpleCarrier] = []
        self.active_tasks = 0
        self.done_event = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._names = itertools.count(1)
        self.error: BaseException | None = None

    def register(self, carrier: SimpleCarrier) -> int:
        self.actors.append(carrier)
        return len(self.actors)

    def carrier(self, aid: Any) -> SimpleCarrier:
        if not isinstance(aid, int) or not 1 <= aid <= len(self.actors):
            msg = f"no participant with address {aid!r}: addresses are 1 .. {len(self.actors)}"
            raise ConfigError(msg)
        return self.actors[aid - 1]

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a counted task of this container."""
        self.active_tasks += 1
        self.done_event.clear()
        task = asyncio.get_running_loop().create_task(coroutine, name=f"dro-dispatch-{next(self._names)}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self.error is None:
            self.error = task.exception()
        self.active_tasks -= 1
        if self.active_tasks == 0:
            self.done_event.set()

    async def wait_done(self) -> None:
        """Wait until no dispatch task is left; raise the first error a handler raised."""
        if self.active_tasks:
            await self.done_event.wait()
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class SimpleCarrier(Carrier):
    """In-process carrier of one participant; addresses are 1-indexed (``cid(carrier)``)."""

    def __init__(self, container: ActorContainer, actor: DistributedAlgorithm | Coordinator) -> None:
        self.container = container
        self.actor = actor
        self.aid = container.register(self)
        self._awaiting: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)

    def address(self) -> int:
        return self.aid

    def _meta(self, meta: dict[str, Any] | None) -> dict[str, Any]:
        return {"sender": self.aid, "message_id": f"{self.aid}-{next(self._ids)}", **(meta or {})}

    def send_to_other(self, content: Any, receiver: int, meta: dict[str, Any] | None = None) -> asyncio.Task[Any]:
        target = self.container.carrier(receiver)
        return self.container.run(target._deliver(content, self._meta(meta)))

    def reply_to_other(self, content: Any, meta: dict[str, Any]) -> asyncio.Task[Any]:
        target = self.container.carrier(meta.get("sender"))
        answer = {"sender": self.aid, "message_id": meta.get("message_id"), "reply": True}
        return self.container.run(target._deliver(content, answer))

    def send_awaitable(self, content: Any, receiver: int, meta: dict[str, Any] | None = None) -> asyncio.Future[Any]:
        full = self._meta(meta)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._awaiting[full["message_id"]] = future
        target = self.container.carrier(receiver)
        self.container.run(target._deliver(content, full))
        return future

    def others(self, participant_id: str) -> list[int]:
        return [c.aid for c in self.container.actors if c is not self and str(c.aid) != participant_id]

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        return self.container.run(coroutine)

    async def _deliver(self, content: Any, meta: dict[str, Any]) -> None:
        if meta.get("reply"):
            future = self._awaiting.pop(str(meta.get("message_id")), None)
            if future is not None:
                if not future.done():
                    future.set_result(content)
                return
        handler = getattr(self.actor, "on_exchange_message", None)
        if handler is None:
            log.warning("dro.undeliverable", receiver=self.aid, sender=meta.get("sender"))
            return
        await handler(self, content, meta)


def cid(carrier: SimpleCarrier) -> int:
    """The 1-indexed id of ``carrier``."""
    return carrier.aid


async def start_distributed_optimization(actors: list[DistributedAlgorithm], start_message: Any) -> None:
    """Wrap each actor in a :class:`SimpleCarrier`, send ``start_message`` from the first carrier to the
    second (to the first when there is only one), and wait until no message is in flight."""
    if not actors:
        raise ConfigError("start_distributed_optimization needs at least one actor, got none")
    container = ActorContainer()
    carriers = [SimpleCarrier(container, actor) for actor in actors]
    try:
        carriers[0].send_to_other(start_message, carriers[min(1, len(carriers) - 1)].aid)
        await container.wait_done()
    finally:
        await container.close()


async def start_coordinated_optimization(
    actors: list[DistributedAlgorithm], coordinator: Coordinator, start_message: Any
) -> list[Any]:
    """Register the actors (addresses 1 .. N) and the coordinator (N + 1), run the coordinator's
    ``start_optimization`` and return what it returns."""
    from edge_agent.dro.core import start_optimization  # noqa: PLC0415 (core imports this module)

    container = ActorContainer()
    for actor in actors:
        SimpleCarrier(container, actor)
    own = SimpleCarrier(container, coordinator)
    try:
        result: list[Any] = await start_optimization(coordinator, own, start_message, {})
        await container.wait_done()
        return result
    finally:
        await container.close()
