"""In-process runs: a scenario on an :class:`InProcNetwork` built from its :class:`RunOptions`.

The network's codec (for ``codec_check``) is the registry's, so a simulation proves that every message it
sends would survive the wire.
"""

from __future__ import annotations

from edge_agent import registry
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.family import RunOptions, ScenarioModel
from edge_agent.results import RunReport

__all__ = ["network", "solve"]


def network(options: RunOptions) -> InProcNetwork:
    """A fresh in-process network for one run of ``options`` (seeded shuffle, optional codec round trip)."""
    return InProcNetwork(rng=options.rng(), shuffle=options.shuffle, run_id=options.run_id,
                         codec=registry.codec() if options.codec_check else None)


async def solve(scenario: ScenarioModel, options: RunOptions) -> RunReport:
    """Run ``scenario`` in this process."""
    return await scenario.run(options, network(options))
