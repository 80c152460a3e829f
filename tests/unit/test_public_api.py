"""Pins the public names, so that removing or renaming one is a deliberate act."""

from __future__ import annotations

import edge_agent
from edge_agent.algorithms import admm


def test_top_level_names() -> None:
    assert sorted(edge_agent.__all__) == sorted([
        "Carrier", "Clock", "ConfigError", "EdgeAgentError", "Envelope", "InProcNetwork", "LinkModel",
        "LoopClock", "ManualClock", "Message", "Participant", "ProtocolError", "RunOptions", "RunReport",
        "RunTimeout", "SolverError", "TransportError", "__version__", "load_scenario",
    ])
    for name in edge_agent.__all__:
        assert hasattr(edge_agent, name)


def test_admm_names() -> None:
    assert sorted(admm.__all__) == sorted([
        "AdmmAnswer", "AdmmCoordinator", "AdmmFailure", "AdmmFlexActor", "AdmmJob", "AdmmJobResult",
        "AdmmJobSpec", "AdmmRequest", "AdmmResult", "AdmmSettings", "AdmmVariant",
        "ConsensusVariant", "RoundRecord", "SharingVariant",
        "create_admm_flex_actor_one_to_many", "one_to_many_problem",
    ])


def test_exception_tree() -> None:
    for error in (edge_agent.ConfigError, edge_agent.ProtocolError, edge_agent.SolverError,
                  edge_agent.RunTimeout, edge_agent.TransportError):
        assert issubclass(error, edge_agent.EdgeAgentError)
