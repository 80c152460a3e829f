"""Runtime helpers around the carriers: a private Mosquitto broker for tests and small fleets."""

from edge_agent.runtime.broker import PrivateBroker, free_port

__all__ = ["PrivateBroker", "free_port"]
