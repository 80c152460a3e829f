"""The seed's algorithm base types: :class:`DistributedAlgorithm`, :class:`Coordinator` and their helpers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from edge_agent.dro.carrier import Carrier

__all__ = [
    "CoordinatedDistributedAlgorithm",
    "Coordinator",
    "DistributedAlgorithm",
    "OptimizationMessage",
    "on_exchange_message",
    "start_optimization",
]


class OptimizationMessage(ABC):  # noqa: B024 (the seed's marker type: nothing to implement)
    """Marker supertype of the optimisation-protocol messages."""


class DistributedAlgorithm(ABC):
    """A participant: subclasses implement :meth:`on_exchange_message`."""

    @abstractmethod
    async def on_exchange_message(self, carrier: Carrier, message_data: Any, meta: Any) -> Any:
        """Handle one message delivered by ``carrier``; ``meta`` is the transport's metadata."""


class Coordinator(ABC):
    """Drives a coordinated run (ADMM)."""

    @abstractmethod
    async def start_optimization(self, carrier: Carrier, message_data: Any, meta: Any) -> Any:
        """Run one whole coordinated optimisation over ``carrier``; its result."""


async def on_exchange_message(algorithm: DistributedAlgorithm, carrier: Carrier, message_data: Any, meta: Any) -> Any:
    """``algorithm.on_exchange_message(carrier, message_data, meta)``."""
    return await algorithm.on_exchange_message(carrier, message_data, meta)


async def start_optimization(coordinator: Coordinator, carrier: Carrier, message_data: Any, meta: Any) -> Any:
    """``coordinator.start_optimization(carrier, message_data, meta)``."""
    return await coordinator.start_optimization(carrier, message_data, meta)


@dataclass
class CoordinatedDistributedAlgorithm:
    """A coordinator and its participants, kept together (informational, as in the seed)."""

    distributed_algo: list[DistributedAlgorithm]
    coordinator: Coordinator
