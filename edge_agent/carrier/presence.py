"""Who is online: retained presence records and the connection's Last Will, folded into one view.

Every hosted agent has a retained record ``{"online": true, "agent": a, "node": n, "session": s}`` on
``<prefix>/<a>/presence``; ``node`` is the MQTT client id of the connection hosting it and ``session``
changes with every (re)connect. The connection's Last Will (sent by the broker when it loses the
connection, after the MQTT 5 will-delay) is ``{"online": false, "agent": n, "node": n, "session": s}``
on ``<prefix>/<n>/presence``, and a clean shutdown publishes the same for every agent.

One rule folds all of them: a record that says ``online: false`` ends its *session*, and every agent
last seen in that session is offline, whatever order retained records arrive in.

Records come from peers, so they are believed only as far as their topic allows. A session names its node
(``<node>:<token>``, :func:`session_of`): an online record whose node is not the session's is refused, and an
offline record ends a whole session only on that node's own topic (its Last Will, its clean leave); on an
agent's topic it takes just that agent offline, and only if the agent is in that session. Under the broker's
ACL nobody else can publish on a node's topic, so no device can end another's session, whatever ids it read.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from edge_agent.clock import Clock
from edge_agent.errors import ProtocolError, RunTimeout

__all__ = ["PresenceRecord", "PresenceTracker", "session_of"]

_DEAD_SESSIONS_KEPT = 4096


def session_of(node: str, token: str) -> str:
    """The id of one connection of ``node`` (a new ``token`` per connect)."""
    return f"{node}:{token}"


def _node(session: str) -> str:
    return session.rpartition(":")[0]


class PresenceRecord(BaseModel):
    """The payload of a presence topic."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    online: bool
    agent: str
    node: str
    session: str
    reason: Literal["connected", "shutdown", "will"] = "connected"

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


class PresenceTracker:
    """The set of agents currently online, and waiting for a named set of them."""

    def __init__(self) -> None:
        self._session_of: dict[str, str] = {}
        self._dead: set[str] = set()
        self._dead_order: deque[str] = deque()
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def online(self) -> frozenset[str]:
        return frozenset(self._session_of)

    def session(self, agent: str) -> str | None:
        """The session ``agent`` is online in, or None."""
        return self._session_of.get(agent)

    def update(self, agent: str, payload: bytes) -> None:
        """Apply a payload of ``agent``'s presence topic; :class:`ProtocolError` if it is malformed."""
        if not payload:  # a cleared retained record
            self._forget(agent)
            return
        try:
            record = PresenceRecord.model_validate_json(payload)
        except ValidationError as exc:
            msg = f"malformed presence record: {exc.errors()[0]['msg']}"
            raise ProtocolError(msg, sender=agent) from None
        self.apply(agent, record)

    def apply(self, agent: str, record: PresenceRecord) -> None:
        """Apply a record about ``agent`` (parsed, or made from a Zenoh liveliness token); :class:`ProtocolError`
        if it claims another agent, or a session of another node."""
        if record.agent != agent:
            msg = f"presence record for {record.agent!r} published on the presence topic of {agent!r}"
            raise ProtocolError(msg, sender=agent)
        node = _node(record.session)
        if record.online:
            if node != record.node:
                msg = f"session {record.session!r} is not a session of node {record.node!r}"
                raise ProtocolError(msg, sender=agent)
            if record.session not in self._dead:
                self._session_of[agent] = record.session
                self._notify()
            return
        if agent == node:  # the node's own Last Will or clean leave: everyone it hosted goes
            self._end_session(record.session)
        elif self._session_of.get(agent) == record.session:  # one agent of the session leaves
            self._forget(agent)

    def _end_session(self, session: str) -> None:
        if session not in self._dead:
            self._dead.add(session)
            self._dead_order.append(session)
            if len(self._dead_order) > _DEAD_SESSIONS_KEPT:
                self._dead.discard(self._dead_order.popleft())
        for agent in [a for a, s in self._session_of.items() if s == session]:
            del self._session_of[agent]
        self._notify()

    def _forget(self, agent: str) -> None:
        if self._session_of.pop(agent, None) is not None:
            self._notify()

    def _notify(self) -> None:
        for waiter in self._waiters:
            _resolve(waiter)

    async def wait_for(self, agents: Iterable[str], within_s: float, clock: Clock, *, online: bool = True) -> None:
        """Return once every agent in ``agents`` is online (or, with ``online=False``, offline);
        :class:`RunTimeout` naming those that are not."""
        wanted = set(agents)

        def pending() -> set[str]:
            return wanted - self._session_of.keys() if online else wanted & self._session_of.keys()

        deadline = clock.now() + within_s
        while missing := pending():
            left = deadline - clock.now()
            if left <= 0:
                state = "online" if online else "offline"
                msg = f"not {state} within {within_s:g} s: {', '.join(sorted(missing))}"
                raise RunTimeout(msg, participants=tuple(sorted(missing)))
            wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.add(wake)
            timer = clock.call_later(left, functools.partial(_resolve, wake))
            try:
                await wake
            finally:
                timer.cancel()
                self._waiters.discard(wake)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
