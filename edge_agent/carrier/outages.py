"""When a carrier's own transport was down: what tells a silent peer from a lost connection.

A carrier whose transport can be lost (over MQTT, its connection to the broker) records every loss and
restore on its clock. Request deadlines count only the time the connection was up (a reply cannot come
while it is down), and a request whose connection stays down for a whole timeout fails with
:class:`~edge_agent.errors.TransportError` naming the connection, never the peer. Launchers that detect the
end of a run by silence (COHDA) do not count the time the connection was down either, and know when to ask
the participants for their state again (:attr:`Outages.losses` changed).

A carrier that cannot lose its transport (in-process) reports :data:`NEVER_DOWN`.
"""

from __future__ import annotations

from collections import deque

__all__ = ["NEVER_DOWN", "Outages"]

_KEPT = 64  # outages remembered; more within one request's lifetime would be a connection that never holds


class Outages:
    """The losses and restores of one transport; ``what`` names it in errors ("the connection to ...")."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.connected = True
        self.losses = 0  # how many times the connection was lost so far
        self.restored_at: float | None = None  # when it came back last (None: never lost)
        self._down_since: float | None = None
        self._past: deque[tuple[float, float]] = deque(maxlen=_KEPT)  # (lost, restored)

    def lost(self, now: float) -> None:
        if self.connected:
            self.connected = False
            self.losses += 1
            self._down_since = now

    def restored(self, now: float) -> None:
        if not self.connected:
            assert self._down_since is not None
            self._past.append((self._down_since, now))
            self.connected, self._down_since, self.restored_at = True, None, now

    def down_for(self, now: float) -> float:
        """How long the connection has been down now (0 while it is up)."""
        return 0.0 if self._down_since is None else max(0.0, now - self._down_since)

    def downtime(self, since: float, now: float) -> float:
        """Seconds of ``[since, now]`` during which the connection was down."""
        intervals = [*self._past, *([] if self._down_since is None else [(self._down_since, now)])]
        return sum(max(0.0, min(end, now) - max(start, since)) for start, end in intervals)


NEVER_DOWN = Outages("the in-process transport")
