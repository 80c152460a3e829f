"""A device's side of ADMM runs: its local problem, built from its private model when a run first asks.

The horizon of a run is the length of the reference it is sent; the device keeps one solver per run (the
newest ``runs_kept``) and answers a run it cannot take part in with an :class:`AdmmFailure` naming why.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import structlog

from edge_agent.algorithms.admm.flex_actor import AdmmFlexActor
from edge_agent.algorithms.admm.messages import AdmmFailure, AdmmRequest
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope, Message
from edge_agent.solvers.qp import ConvexQP

__all__ = ["AdmmDevice", "LocalModel"]

log = structlog.get_logger("edge_agent.device")


class LocalModel(Protocol):
    """A device model that can state its private problem over ``size`` slots (:mod:`edge_agent.devices`)."""

    @property
    def id(self) -> str: ...

    def local_problem(self, size: int) -> ConvexQP: ...


class AdmmDevice:
    """Answers a coordinator's :class:`AdmmRequest` from the device's own model; a participant of its own
    in process, a role of the device agent over MQTT."""

    def __init__(self, model: LocalModel, runs_kept: int = 4) -> None:
        self.model = model
        self._runs_kept = runs_kept
        self._actors: OrderedDict[tuple[str | None, int], AdmmFlexActor] = OrderedDict()

    @property
    def id(self) -> str:
        return self.model.id

    @staticmethod
    def accepts(message: Message) -> bool:
        return isinstance(message, AdmmRequest)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if not isinstance(message, AdmmRequest):
            return
        key = (envelope.run, message.reference.size)
        actor = self._actors.get(key)
        if actor is None:
            try:
                actor = AdmmFlexActor(self.model.local_problem(message.reference.size), message.rho)
            except ConfigError as error:
                log.warning("device.cannot_take_part", participant=self.id, run=envelope.run, error=str(error))
                carrier.reply(AdmmFailure(round=message.round, reason=str(error)), envelope)
                return
            self._actors[key] = actor
            while len(self._actors) > self._runs_kept:
                self._actors.popitem(last=False)
        await actor.handle(carrier, message, envelope)
