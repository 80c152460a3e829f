"""Carriers: how participants reach each other (in one process, over MQTT, or over Zenoh).

Names are imported on first use: an algorithm importing :mod:`edge_agent.carrier.base` does not load
paho, and the in-process carrier does not load the MQTT one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_agent._lazy import lazy_getattr

if TYPE_CHECKING:
    from edge_agent.carrier.base import Carrier, Participant
    from edge_agent.carrier.inproc import InProcCarrier, InProcNetwork, LinkModel, NetworkStats
    from edge_agent.carrier.mqtt_carrier import MqttCarrier, MqttConnection
    from edge_agent.carrier.mqtt_options import MqttOptions
    from edge_agent.carrier.zenoh import ZenohCarrier, ZenohConnection
    from edge_agent.carrier.zenoh_options import ZenohOptions

_HOMES = {
    "Carrier": "edge_agent.carrier.base",
    "Participant": "edge_agent.carrier.base",
    "InProcCarrier": "edge_agent.carrier.inproc",
    "InProcNetwork": "edge_agent.carrier.inproc",
    "LinkModel": "edge_agent.carrier.inproc",
    "NetworkStats": "edge_agent.carrier.inproc",
    "MqttCarrier": "edge_agent.carrier.mqtt_carrier",
    "MqttConnection": "edge_agent.carrier.mqtt_carrier",
    "MqttOptions": "edge_agent.carrier.mqtt_options",
    "ZenohCarrier": "edge_agent.carrier.zenoh",
    "ZenohConnection": "edge_agent.carrier.zenoh",
    "ZenohOptions": "edge_agent.carrier.zenoh_options",
}

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
    "ZenohCarrier",
    "ZenohConnection",
    "ZenohOptions",
]

__getattr__ = lazy_getattr(__name__, globals(), _HOMES)
