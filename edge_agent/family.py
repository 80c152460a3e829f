"""The seam every algorithm family plugs into: what a family declares, and what the rest derives from it.

A family is one package under ``edge_agent/algorithms/`` that exports a :class:`Family` as ``FAMILY`` from
its ``family`` module, and one line in :mod:`edge_agent.registry`. From the registered families come the
codec (every message kind), the scenario files and their JSON Schema (every scenario model), a device
agent's roles, ``edge-agent solve`` over both carriers, and ``--plot`` (``docs/adding-a-family.md``).

Nothing here knows a transport: a scenario runs on a :class:`~edge_agent.carrier.base.Network` it is given
(in-process), a plan on a :class:`~edge_agent.carrier.base.Host` (a launcher beside agent processes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edge_agent.carrier.base import Carrier, Host, Network
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope, Message
from edge_agent.results import RunReport

if TYPE_CHECKING:
    import numpy as np

    from edge_agent.devices import AgentDevice

__all__ = ["Family", "Plan", "Role", "RoleContext", "RunOptions", "ScenarioModel", "one_run"]

Settle = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class RunOptions:
    """How to run a scenario, independent of what it describes."""

    run_id: str
    seed: int | None = None  # seeds the message-order shuffle and any random choice of the algorithm
    shuffle: bool = False
    codec_check: bool = False  # in-process: every envelope goes through the wire codec and back

    def rng(self) -> np.random.Generator:
        import numpy as np  # noqa: PLC0415  (the seam is imported by idle agent processes, which need no numpy)

        return np.random.default_rng(self.seed)


class ScenarioModel(Protocol):
    """A scenario file's model: ``algorithm`` is its discriminator (a ``Literal``) in the scenario union."""

    @property
    def algorithm(self) -> str: ...

    @property
    def name(self) -> str: ...

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        """Run in one process on ``network`` (not yet entered)."""


class Plan(Protocol):
    """How a scenario runs among agent processes: which agents (one process each, with this device model),
    and what the launcher does beside them once they are all present."""

    @property
    def hosting(self) -> str:
        """For the report, e.g. "one process per generator"."""


    def agents(self) -> Sequence[AgentDevice]: ...

    async def launch(self, host: Host) -> RunReport: ...


class Role(Protocol):
    """A device agent's part in one family: the messages it takes and how it answers them."""

    def accepts(self, message: Message) -> bool: ...

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None: ...


@dataclass(frozen=True)
class RoleContext:
    """What the hosting process offers a device's roles.

    ``settle`` waits until the transport confirmed the subscriptions made so far (None where subscribing takes
    effect at once); ``publish`` makes a message the device's retained record of that name (None in process).
    """

    settle: Settle | None = None
    publish: Callable[[str, Message], None] | None = None


@dataclass(frozen=True)
class Family:
    """One algorithm family, as the registry sees it.

    ``role`` gives a device's role in this family (None: the device takes no part); ``plan`` the way a scenario
    runs over MQTT (None: in-process only); ``figure`` draws reports of this family into a PNG.
    """

    name: str
    messages: tuple[type[Message], ...]
    scenarios: tuple[type[ScenarioModel], ...]
    role: Callable[[AgentDevice, RoleContext], Role | None] | None = None
    plan: Callable[[ScenarioModel, RunOptions], Plan] | None = None
    figure: Figure | None = None


Figure = Callable[[Sequence[RunReport], Path], Path]


def one_run(draw: Callable[[dict[str, Any], Path], Path], what: str) -> Figure:
    """A family figure that draws one run at a time from its JSON report (``what`` names it in the error)."""

    def figure(reports: Sequence[RunReport], path: Path) -> Path:
        if len(reports) != 1:
            raise ConfigError(f"--plot draws one {what} run at a time, got {len(reports)}")
        return draw(reports[0].to_json(), path)

    return figure
