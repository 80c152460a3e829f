"""ADMM as a registered family (:mod:`edge_agent.registry`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edge_agent.algorithms.admm.device import AdmmDevice
from edge_agent.algorithms.admm.figure import plot_admm_convergence
from edge_agent.algorithms.admm.job import AdmmJob, AdmmJobResult
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmFailure, AdmmRequest
from edge_agent.algorithms.admm.plan import admm_plan
from edge_agent.algorithms.admm.scenario import AdmmConsensusScenario, AdmmSharingScenario
from edge_agent.devices import AgentDevice
from edge_agent.family import Family, RoleContext
from edge_agent.results import RunReport

__all__ = ["FAMILY"]


def _role(device: AgentDevice, context: RoleContext) -> AdmmDevice:
    return AdmmDevice(device)  # a device whose model has no local problem answers with admm.failure


def _figure(reports: Sequence[RunReport], path: Path) -> Path:
    return plot_admm_convergence([report.to_json() for report in reports], path)


FAMILY = Family(
    name="admm",
    messages=(AdmmRequest, AdmmAnswer, AdmmFailure, AdmmJob, AdmmJobResult),
    scenarios=(AdmmSharingScenario, AdmmConsensusScenario),
    role=_role,
    plan=admm_plan,
    figure=_figure,
)
