"""Local solvers used by algorithm participants."""

from edge_agent.solvers.qp import ConvexQP, ProximalSolver

__all__ = ["ConvexQP", "ProximalSolver"]
