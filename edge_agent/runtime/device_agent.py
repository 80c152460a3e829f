"""The participant a device runs: it answers algorithm requests from its private device model.

It holds no transport code: the same object serves in the in-process simulation and in an agent
process on MQTT. For ADMM it builds its local problem when a run's first request arrives (the horizon
is the length of the reference it is sent), keeps one OSQP solver per run, and forgets old runs.
"""

from __future__ import annotations

from collections import OrderedDict

import structlog

from edge_agent.algorithms.admm import AdmmFailure, AdmmFlexActor, AdmmRequest
from edge_agent.carrier.base import Carrier
from edge_agent.devices import DeviceSpec
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope, Message

__all__ = ["DeviceAgent"]

log = structlog.get_logger("edge_agent.device")

RUNS_KEPT = 4


class DeviceAgent:
    def __init__(self, device: DeviceSpec) -> None:
        self.device = device
        self._actors: OrderedDict[tuple[str | None, int], AdmmFlexActor] = OrderedDict()

    @property
    def id(self) -> str:
        return self.device.id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, AdmmRequest):
            actor = self._admm_actor(envelope.run, message, carrier, envelope)
            if actor is not None:
                await actor.handle(carrier, message, envelope)
            return
        log.warning("device.unexpected_message", participant=self.id, kind=message.kind, sender=envelope.sender)

    def _admm_actor(
        self, run: str | None, request: AdmmRequest, carrier: Carrier, envelope: Envelope
    ) -> AdmmFlexActor | None:
        key = (run, request.reference.size)
        actor = self._actors.get(key)
        if actor is None:
            try:
                actor = AdmmFlexActor(self.device.local_problem(request.reference.size), request.rho)
            except ConfigError as error:
                log.warning("device.cannot_take_part", participant=self.id, run=run, error=str(error))
                carrier.reply(AdmmFailure(round=request.round, reason=str(error)), envelope)
                return None
            self._actors[key] = actor
            while len(self._actors) > RUNS_KEPT:
                self._actors.popitem(last=False)
        return actor
