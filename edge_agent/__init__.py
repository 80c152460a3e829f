"""edge-agent: distributed resource optimisation for device fleets.

Algorithms (ADMM, consensus, COHDA, ...) run over a carrier: in one asyncio loop
(:class:`InProcNetwork`) or one process per device over MQTT.

The public names below are imported on first use, so that a device agent process loads only what it
runs (a small footprint on Raspberry Pi-class devices).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_agent._lazy import lazy_getattr

if TYPE_CHECKING:
    from edge_agent.carrier import Carrier, InProcNetwork, LinkModel, Participant
    from edge_agent.clock import Clock, LoopClock, ManualClock
    from edge_agent.errors import (
        ConfigError,
        EdgeAgentError,
        ProtocolError,
        RunTimeout,
        SolverError,
        TransportError,
    )
    from edge_agent.family import RunOptions
    from edge_agent.messages import Envelope, Message
    from edge_agent.registry import load_scenario
    from edge_agent.results import RunReport

__version__ = "0.1.0"

_HOMES = {
    "Carrier": "edge_agent.carrier.base",
    "Participant": "edge_agent.carrier.base",
    "InProcNetwork": "edge_agent.carrier.inproc",
    "LinkModel": "edge_agent.carrier.inproc",
    "Clock": "edge_agent.clock",
    "LoopClock": "edge_agent.clock",
    "ManualClock": "edge_agent.clock",
    "ConfigError": "edge_agent.errors",
    "EdgeAgentError": "edge_agent.errors",
    "ProtocolError": "edge_agent.errors",
    "RunTimeout": "edge_agent.errors",
    "SolverError": "edge_agent.errors",
    "TransportError": "edge_agent.errors",
    "Envelope": "edge_agent.messages",
    "Message": "edge_agent.messages",
    "RunReport": "edge_agent.results",
    "RunOptions": "edge_agent.family",
    "load_scenario": "edge_agent.registry",
}

__all__ = [
    "Carrier",
    "Clock",
    "ConfigError",
    "EdgeAgentError",
    "Envelope",
    "InProcNetwork",
    "LinkModel",
    "LoopClock",
    "ManualClock",
    "Message",
    "Participant",
    "ProtocolError",
    "RunOptions",
    "RunReport",
    "RunTimeout",
    "SolverError",
    "TransportError",
    "__version__",
    "load_scenario",
]

__getattr__ = lazy_getattr(__name__, globals(), _HOMES)
