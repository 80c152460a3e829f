"""Settling (``rho_update="settle"``) and per-participant penalties, against HiGHS on priced fleets."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent.algorithms.admm import AdmmSettings, ConsensusVariant, SharingVariant
from edge_agent.algorithms.admm.anderson import Anderson
from edge_agent.algorithms.admm.coordinator import RoundRecord, _adapt_penalties
from edge_agent.algorithms.admm.settle import Settle
from edge_agent.testing.central import solve_sharing

from .test_convergence import assert_honest, priced_fleet, run_sharing

REL_GAP = 1e-4  # |f - f*| <= REL_GAP * max(1, |f*|)
SETTLE = AdmmSettings(max_iters=600, rho=0.01, rho_update="settle", acceleration="anderson")


@pytest.mark.parametrize("variant", [SharingVariant([3.0, -2.0, 40.0], [0.5, 1.0, 2.0]),
                                     ConsensusVariant([1.0, 2.0, -3.0], alpha=3.0, rho=0.7)],
                         ids=["sharing", "consensus"])
def test_per_participant_penalties_solve_the_weighted_z_update(variant: SharingVariant | ConsensusVariant) -> None:
    rng = np.random.default_rng(7)
    X, U = rng.normal(size=(6, 3)) * 5, rng.normal(size=(6, 3))
    # equal penalties: the scalar formula
    assert np.allclose(variant.z_update(X, U, np.full(6, 0.7)), variant.z_update(X, U, 0.7), atol=1e-12)
    # unequal: rho_i (w_i - z_i) is one common price, and no small move of the aggregate lowers the objective
    rho = rng.uniform(0.1, 100, 6)
    Z = variant.z_update(X, U, rho)
    price = rho[:, None] * (X + U - Z)
    assert np.allclose(price, price[0], atol=1e-9)

    def value(Zc: np.ndarray) -> float:
        return variant.coupling_cost(Zc.sum(axis=0)) + 0.5 * float(np.sum(rho[:, None] * (Zc - X - U) ** 2))

    best = value(Z)
    for _ in range(200):
        assert value(Z + rng.normal(size=Z.shape) * 1e-3) >= best - 1e-12


def answers(moving: float, late: float = 0.0) -> np.ndarray:
    """Three participants' answers: the first stays put, the second at ``moving``, the third at ``late``."""
    return np.array([[0.0, 0.0], [moving, 0.0], [0.0, late]])


def test_a_participant_is_held_only_while_its_answer_stays_put() -> None:
    settle = Settle(3, start=4, window=3, hold=5, factor=100.0, tol=1e-6)
    assert [settle.after_round(k, answers(k)) for k in range(1, 4)] == [False, False, False]
    assert settle.after_round(4, answers(4))  # participant 1 moved over the window: not held
    assert settle.scale.tolist() == [100.0, 1.0, 100.0]
    assert not settle.after_round(5, answers(5))
    assert settle.after_round(6, answers(6, late=1.0))  # participant 2 moves after all: released
    assert settle.scale.tolist() == [100.0, 1.0, 1.0]
    assert not settle.after_round(7, answers(7, late=1.0))
    assert not settle.after_round(8, answers(8, late=1.0))
    assert settle.after_round(9, answers(9, late=1.0))  # the hold is over: everyone back to rho
    assert settle.scale.tolist() == [1.0, 1.0, 1.0]
    assert not any(settle.after_round(k, answers(k, late=1.0)) for k in range(10, 12))
    assert settle.after_round(12, answers(12, late=1.0))  # measured anew after the window: 0 and 2 held
    assert settle.scale.tolist() == [100.0, 1.0, 100.0]
    assert not any(settle.after_round(k, answers(k, late=1.0)) for k in range(13, 22))
    assert settle.after_round(22, answers(22, late=1.0))  # the second hold lasted twice as long


def test_within_a_hold_a_released_participant_that_settles_again_is_held_again_once() -> None:
    settle = Settle(3, start=2, window=2, hold=20, factor=100.0, tol=1e-6)
    assert not settle.after_round(1, answers(1))
    assert settle.after_round(2, answers(2))  # 0 and 2 held
    assert settle.after_round(3, answers(3, late=1.0))  # the price jumped: 2 moves, released
    assert settle.scale.tolist() == [100.0, 1.0, 1.0]
    assert not settle.after_round(4, answers(4, late=1.0))  # a window after the decision, but 2 moved in it
    assert not settle.after_round(5, answers(5, late=1.0))
    assert settle.after_round(6, answers(6, late=1.0))  # still for a whole window: held again
    assert settle.scale.tolist() == [100.0, 1.0, 100.0]
    assert settle.after_round(7, answers(7, late=2.0))  # moves again: released
    assert not any(settle.after_round(k, answers(k, late=2.0)) for k in range(8, 22))  # once per hold
    assert settle.scale.tolist() == [100.0, 1.0, 1.0]


def test_the_last_mover_is_never_held_within_a_hold() -> None:
    settle = Settle(2, start=2, window=2, hold=20, factor=100.0, tol=1e-6)
    settle.after_round(1, np.array([[0.0], [1.0]]))
    assert settle.after_round(2, np.array([[0.0], [2.0]]))  # 0 held, 1 moves
    assert not any(settle.after_round(k, np.array([[0.0], [3.0]])) for k in range(3, 12))  # 1 stops: still a mover
    assert settle.scale.tolist() == [100.0, 1.0]


def test_a_dropped_participant_leaves_the_schedule_with_its_rows() -> None:
    settle = Settle(3, start=2, window=2, hold=4, factor=10.0, tol=1e-6)
    settle.after_round(1, answers(1))
    settle.drop([0, 1])  # participant 2 fell silent
    assert settle.after_round(2, answers(2)[:2])
    assert settle.scale.tolist() == [10.0, 1.0]


@pytest.mark.parametrize(("n", "seed"), [(30, 11), (30, 12), (50, 13)])
@pytest.mark.parametrize("reachable", [True, False], ids=["reachable", "unreachable"])
async def test_settling_reaches_the_central_optimum_on_priced_fleets(n: int, seed: int, reachable: bool) -> None:
    actors, target, priorities = priced_fleet(n, seed, reachable)
    result = await run_sharing(actors, target, priorities, SETTLE)
    central = solve_sharing([a.problem for a in actors], target, priorities)
    assert result.status == "converged"
    assert_honest(result, SETTLE)
    assert abs(result.objective - central.objective) <= REL_GAP * max(1.0, abs(central.objective))


def test_settling_keeps_every_penalty_within_what_a_request_carries() -> None:
    with pytest.raises(ValidationError, match="rho \\* settle_factor must be <= 1e\\+08"):
        AdmmSettings(rho=1e5, rho_update="settle")
    AdmmSettings(rho=1e5, rho_update="balance")  # the factor applies to settling only


def test_while_participants_are_held_a_lagging_dual_residual_brings_rho_down_never_up() -> None:
    cfg = AdmmSettings(rho=0.01, rho_update="settle", acceleration="anderson")
    settle = Settle(3, start=2, window=2, hold=40, factor=1e4, tol=1e-6)
    X = answers(0.0)
    settle.after_round(1, X)
    assert settle.after_round(2, X)
    assert settle.holding  # everyone held
    U = np.ones((3, 2))
    round_ = cfg.adapt_every - 1  # rho may change after this round

    def after(r_primal: float, r_dual: float) -> tuple[np.ndarray, float]:
        record = RoundRecord(round=round_, r_primal=r_primal, r_dual=r_dual, eps_primal=1.0, eps_dual=1.0, rho=0.01)
        return _adapt_penalties(record, X, U, cfg=cfg, settle=settle, anderson=Anderson(5, 1.0))

    U_down, rho_down = after(r_primal=1e-3, r_dual=10.0)  # the movers drift along a face of optima
    assert rho_down == pytest.approx(0.01 / cfg.adapt_factor)
    assert np.allclose(rho_down * U_down, 0.01 * U)  # the unscaled duals (prices) carry over
    assert after(r_primal=10.0, r_dual=1e-3)[1] == 0.01  # a lagging primal residual does not raise it in a hold
    settle.holding = False
    assert after(r_primal=1e-3, r_dual=10.0)[1] == 0.01  # outside a hold, settling keeps rho
