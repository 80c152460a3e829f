"""Carriers: how participants reach each other (in one process, or over MQTT)."""

from edge_agent.carrier.base import Carrier, Participant
from edge_agent.carrier.inproc import InProcCarrier, InProcNetwork, LinkModel, NetworkStats

__all__ = ["Carrier", "InProcCarrier", "InProcNetwork", "LinkModel", "NetworkStats", "Participant"]
