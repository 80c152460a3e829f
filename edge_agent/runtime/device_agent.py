"""The participant a device runs: it answers algorithm requests from its private device model.

It holds no transport code: the same object serves in the in-process simulation and in an agent
process on MQTT. For ADMM it builds its local problem when a run's first request arrives (the horizon
is the length of the reference it is sent), keeps one OSQP solver per run, and forgets old runs. For
the consensus dispatch algorithms a generator joins runs when asked (``consensus.join``), with its cost
``cost_linear P + cost_quadratic P^2`` on ``[p_min, p_max]`` (:class:`ConsensusMember`). Any device joins
COHDA runs (``cohda.join``, :class:`CohdaMember`); for now the join carries its schedule set. A compute
node holds its schedule and serves the scheduling negotiation (:class:`ResourceAgent`), handing every new
state to ``on_schedule`` (an agent process publishes it as a retained record); it takes part in nothing else.

``settle`` (optional) waits until the transport confirmed the subscriptions made so far; an agent
process passes its MQTT connection's :meth:`~edge_agent.carrier.mqtt_carrier.MqttConnection.settled`,
so that a device acknowledges a consensus join only once it really hears its in-neighbours.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

import structlog

from edge_agent.algorithms.admm import AdmmFailure, AdmmFlexActor, AdmmRequest
from edge_agent.algorithms.cohda.member import CohdaMember
from edge_agent.algorithms.consensus.costs import QuadraticCost
from edge_agent.algorithms.consensus.member import ConsensusMember
from edge_agent.algorithms.scheduling import ResourceAgent, ScheduleState
from edge_agent.carrier.base import Carrier
from edge_agent.devices import AgentDevice, ComputeNode, Generator
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope, Message

__all__ = ["DeviceAgent"]

log = structlog.get_logger("edge_agent.device")

RUNS_KEPT = 4


class DeviceAgent:
    def __init__(
        self,
        device: AgentDevice,
        settle: Callable[[], Awaitable[None]] | None = None,
        on_schedule: Callable[[ScheduleState], None] | None = None,
    ) -> None:
        self.device = device
        self.resource = (ResourceAgent(device.id, device.horizon_h, on_schedule)
                         if isinstance(device, ComputeNode) else None)
        self._actors: OrderedDict[tuple[str | None, int], AdmmFlexActor] = OrderedDict()
        self.consensus = ConsensusMember(device.id, self._dispatch_cost, settle=settle, runs_kept=RUNS_KEPT)
        self.cohda = CohdaMember(device.id, settle=settle, runs_kept=RUNS_KEPT)

    @property
    def id(self) -> str:
        return self.device.id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, AdmmRequest):
            actor = self._admm_actor(envelope.run, message, carrier, envelope)
            if actor is not None:
                await actor.handle(carrier, message, envelope)
            return
        if self.resource is not None and self.resource.accepts(message):
            await self.resource.handle(carrier, message, envelope)
            return
        if self.consensus.accepts(message):
            await self.consensus.handle(carrier, message, envelope)
            return
        if self.cohda.accepts(message):
            await self.cohda.handle(carrier, message, envelope)
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

    def _dispatch_cost(self) -> QuadraticCost:
        """The private cost a generator brings to a consensus dispatch."""
        device = self.device
        if not isinstance(device, Generator):
            raise ConfigError(f"device {self.id!r} is a {device.kind}; only generators take part in a dispatch")
        return QuadraticCost(device.cost_linear, device.cost_quadratic, device.p_min, device.p_max, device.id)
