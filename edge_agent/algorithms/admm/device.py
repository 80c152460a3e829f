"""A device's side of ADMM runs: its local problem, built from its private model when a run first asks.

The horizon of a run is the length of the reference it is sent, at most the device's ``max_slots``. Every
(run, coordinator, horizon) has its own solver, so nothing one requester sends can change another run's
result; a solver serves one request at a time (OSQP is not thread-safe), is set up off the event loop, and
only the newest ``runs_kept`` are kept. A run the device cannot take part in is answered with an
:class:`AdmmFailure` naming why.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
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

    @property
    def max_slots(self) -> int: ...

    def local_problem(self, size: int) -> ConvexQP: ...


@dataclass
class _Run:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    actor: AdmmFlexActor | None = None


class AdmmDevice:
    """Answers a coordinator's :class:`AdmmRequest` from the device's own model; a participant of its own
    in process, a role of the device agent over MQTT."""

    def __init__(self, model: LocalModel, runs_kept: int = 4) -> None:
        self.model = model
        self._runs_kept = runs_kept
        self._runs: OrderedDict[tuple[str | None, str, int], _Run] = OrderedDict()

    @property
    def id(self) -> str:
        return self.model.id

    @staticmethod
    def accepts(message: Message) -> bool:
        return isinstance(message, AdmmRequest)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if not isinstance(message, AdmmRequest):
            return
        size = message.reference.size
        if not 1 <= size <= self.model.max_slots:
            reason = f"{self.id!r} takes runs of 1 to {self.model.max_slots} slots (max_slots), not {size}"
            log.warning("device.cannot_take_part", participant=self.id, run=envelope.run, error=reason)
            carrier.reply(AdmmFailure(round=message.round, reason=reason), envelope)
            return
        key = (envelope.run, envelope.sender, size)
        run = self._runs.get(key)
        if run is None:
            run = self._runs[key] = _Run()
            while len(self._runs) > self._runs_kept:
                self._runs.popitem(last=False)
        async with run.lock:
            if run.actor is None:
                try:
                    problem = self.model.local_problem(size)
                    run.actor = await carrier.run_blocking(AdmmFlexActor, problem, message.rho)
                except ConfigError as error:
                    log.warning("device.cannot_take_part", participant=self.id, run=envelope.run, error=str(error))
                    carrier.reply(AdmmFailure(round=message.round, reason=str(error)), envelope)
                    return
            await run.actor.handle(carrier, message, envelope)
