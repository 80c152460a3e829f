"""Distributed constraint optimisation (DCOP): the model, seeded generators, and the classic algorithms
(DSA, MGM, DPOP) as participants on the carrier interface; see ``docs/dcop.md``."""

from edge_agent.algorithms.dcop.generators import colouring, grid, random_graph, scale_free
from edge_agent.algorithms.dcop.local import LocalProblem
from edge_agent.algorithms.dcop.local_search import LocalSearchAgent, LocalSearchSettings
from edge_agent.algorithms.dcop.model import Assignment, Constraint, Dcop, DomainValue, Objective, Variable
from edge_agent.algorithms.dcop.scenario import DcopScenario

__all__ = [
    "Assignment",
    "Constraint",
    "Dcop",
    "DcopScenario",
    "DomainValue",
    "LocalProblem",
    "LocalSearchAgent",
    "LocalSearchSettings",
    "Objective",
    "Variable",
    "colouring",
    "grid",
    "random_graph",
    "scale_free",
]
