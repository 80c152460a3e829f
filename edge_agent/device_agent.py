"""The participant a device runs: it answers every registered family's messages from its private model.

It holds no transport code: the same object serves in process and in an agent process on MQTT. Each
registered family contributes the device's role in it (:attr:`Family.role <edge_agent.family.Family.role>`):
an ADMM device builds its local problem per run, a generator joins consensus dispatch runs with its own cost,
any device joins COHDA runs, a compute node holds its schedule. A message no role accepts is logged.
"""

from __future__ import annotations

import structlog

from edge_agent.carrier.base import Carrier
from edge_agent.devices import AgentDevice
from edge_agent.family import Role, RoleContext
from edge_agent.messages import Envelope, Message
from edge_agent.registry import families

__all__ = ["DeviceAgent"]

log = structlog.get_logger("edge_agent.device")


class DeviceAgent:
    def __init__(self, device: AgentDevice, context: RoleContext | None = None) -> None:
        self.device = device
        context = context or RoleContext()
        self.roles: dict[str, Role] = {}
        for family in families():
            role = None if family.role is None else family.role(device, context)
            if role is not None:
                self.roles[family.name] = role

    @property
    def id(self) -> str:
        return self.device.id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        for role in self.roles.values():
            if role.accepts(message):
                await role.handle(carrier, message, envelope)
                return
        log.warning("device.unexpected_message", participant=self.id, kind=message.kind, sender=envelope.sender)
