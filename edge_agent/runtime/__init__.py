"""Runtime helpers around the carriers: a private Mosquitto broker for tests and small fleets.

Names are imported on first use: an agent process (:mod:`.agent`) does not load the broker helper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_agent._lazy import lazy_getattr

if TYPE_CHECKING:
    from edge_agent.runtime.broker import PrivateBroker, free_port

_HOMES = {"PrivateBroker": "edge_agent.runtime.broker", "free_port": "edge_agent.runtime.broker"}

__all__ = ["PrivateBroker", "free_port"]

__getattr__ = lazy_getattr(__name__, globals(), _HOMES)
