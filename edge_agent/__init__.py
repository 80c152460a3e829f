"""edge-agent: distributed resource optimisation for device fleets.

Algorithms (ADMM, consensus, COHDA, ...) run over a carrier: in one asyncio loop
(:class:`InProcNetwork`) or one process per device over MQTT.
"""

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
from edge_agent.messages import Envelope, Message
from edge_agent.results import RunReport
from edge_agent.scenario import RunOptions, load_scenario

__version__ = "0.1.0"

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
