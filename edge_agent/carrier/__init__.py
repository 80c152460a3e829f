"""Carriers: how participants reach each other (in one process, or over MQTT)."""

from edge_agent.carrier.base import Carrier, Participant
from edge_agent.carrier.inproc import InProcCarrier, InProcNetwork, LinkModel, NetworkStats
from edge_agent.carrier.mqtt_carrier import MqttCarrier, MqttConnection
from edge_agent.carrier.mqtt_options import MqttOptions

__all__ = [
    "Carrier",
    "InProcCarrier",
    "InProcNetwork",
    "LinkModel",
    "MqttCarrier",
    "MqttConnection",
    "MqttOptions",
    "NetworkStats",
    "Participant",
]
