"""The participant a device runs: it answers every registered family's messages from its private model.

It holds no transport code: the same object serves in process and in an agent process on MQTT. Each
registered family contributes the device's role in it (:attr:`Family.role <edge_agent.family.Family.role>`):
an ADMM device builds its local problem per run, a generator joins consensus dispatch runs with its own cost,
any device joins COHDA runs, a compute node holds its schedule. A message no role accepts is logged.

A role is made when the device first meets its family (:func:`~edge_agent.registry.family_of_kind`: on the
first message of one of the family's kinds), or at once for the families its device kind takes part in from
the start (a compute node's schedule): an idle agent process imports no algorithm (``docs/lean-agents.md``).

Nothing a peer sends may take the device down: a role that fails on a message (whatever it raised) is logged
and counted, and the sender of a direct message is answered with a :class:`Refusal` naming the error.
"""

from __future__ import annotations

import structlog

from edge_agent.carrier.base import GOSSIP, Carrier
from edge_agent.devices import AgentDevice
from edge_agent.family import Family, Role, RoleContext
from edge_agent.messages import Envelope, Message, Refusal
from edge_agent.registry import family_of_kind, starting_families

__all__ = ["DeviceAgent"]

log = structlog.get_logger("edge_agent.device")


class DeviceAgent:
    def __init__(self, device: AgentDevice, context: RoleContext | None = None) -> None:
        self.device = device
        self.failures = 0  # messages a role failed on (answered with a Refusal where a reply can go)
        self._context = context or RoleContext()
        self.roles: dict[str, Role] = {}  # the roles made so far, by family name
        self._met: set[str] = set()  # the families met so far (a family may give this device no role)
        self._kinds_met: set[str] = set()
        for family in starting_families(device.kind):
            self._meet(family)

    def _meet(self, family: Family) -> None:
        if family.name in self._met:
            return
        role = None if family.role is None else family.role(self.device, self._context)
        self._met.add(family.name)  # only once made: a family that failed to is asked again next time
        if role is not None:
            self.roles[family.name] = role

    @property
    def id(self) -> str:
        return self.device.id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        try:
            self._meet_kind(message.kind)
        except Exception as error:  # a family that cannot make this device's role: as a role failing
            self._failed(carrier, message, envelope, "registry", error)
            return
        for name, role in self.roles.items():
            if role.accepts(message):
                try:
                    await role.handle(carrier, message, envelope)
                except Exception as error:
                    self._failed(carrier, message, envelope, name, error)
                return
        log.warning("device.unexpected_message", participant=self.id, kind=message.kind, sender=envelope.sender)

    def _meet_kind(self, kind: str) -> None:
        if kind not in self._kinds_met:  # decoded kinds only: a closed set
            family = family_of_kind(kind)
            if family is not None:
                self._meet(family)
            self._kinds_met.add(kind)

    def _failed(self, carrier: Carrier, message: Message, envelope: Envelope, family: str, error: Exception) -> None:
        self.failures += 1
        reason = f"{self.id!r} could not handle {message.kind!r}: {type(error).__name__}: {error}"[:2000]
        log.warning("device.handler_failed", participant=self.id, family=family, kind=message.kind,
                    sender=envelope.sender, error=reason)
        if envelope.receiver != GOSSIP and envelope.in_reply_to is None:
            carrier.reply(Refusal(reason=reason), envelope)
