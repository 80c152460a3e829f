"""A replica of the sharing-ADMM coordinator on issue 12's priced fleets, for many seeds in seconds.

    .venv/bin/python bench/admm_replica.py --sizes 100 --seeds 101 121 --rounds 300   # seeds 101..120
    .venv/bin/python bench/admm_replica.py --sizes 1000 --seeds 101 111 --rounds 500

The devices of ``bench/admm.py --priced`` (same generator, ``priced_instance``) answer in closed form instead of
through OSQP and messages: a one-to-many device's feasible set is the segment ``{s tech : 0 <= s <= 1}``, so its
answer to ``min S'x + rho_i/2 ||x - r||^2`` is ``s = clip((tech'r - S'tech / rho_i) / ||tech||^2, 0, 1)``. All the
rest is the coordinator's own code: the variant's z-update (one penalty per participant), ``Anderson``, ``Settle``,
the penalty updates (``_adapt_penalties``) and the residual test (``_record``, ``_verdict``), in the coordinator's
order. Answers are exact (OSQP's are within about 1e-8), which changes Anderson-only runs noticeably
(``docs/admm.md``). Prints one markdown row per size, target kind and option: how many fleets are within 1e-4 of
the HiGHS optimum at the budget (whatever the status), the median and worst gap there, how many stopped
``converged`` within 1e-4, and their median rounds.
"""

from __future__ import annotations

import argparse
import itertools
import logging

import numpy as np
import structlog
from admm import PricedInstance, priced_instance

from edge_agent.algorithms.admm.anderson import Anderson
from edge_agent.algorithms.admm.coordinator import AdmmSettings, _adapt_penalties, _record, _verdict
from edge_agent.algorithms.admm.settle import Settle
from edge_agent.algorithms.admm.variants import SharingVariant
from edge_agent.testing.central import solve_sharing

GAP = 1e-4
OPTIONS: dict[str, dict[str, float | bool]] = {
    "Anderson m=5, rho 0.1": {"rho": 0.1, "settle": False},
    "settle + Anderson m=5, rho 0.01": {"rho": 0.01, "settle": True},
    "settle + Anderson m=5, rho 1/N": {"rho": -1.0, "settle": True},  # -1: 1 / N
}


def run(instance: PricedInstance, rho: float, settle: bool, rounds: int) -> tuple[str, int, float]:
    """Status, rounds and the final answers' relative gap to the central optimum."""
    tech = instance.capacity[:, None] * instance.eta
    n, m = tech.shape
    f_star = solve_sharing([a.problem for a in instance.actors()], instance.target, instance.priorities).objective
    cfg = AdmmSettings(rho=rho, rho_update="settle" if settle else "fixed", acceleration="anderson")
    variant = SharingVariant(instance.target, instance.priorities)
    schedule = Settle(n, start=cfg.settle_start, window=cfg.settle_window, hold=cfg.settle_hold,
                      factor=cfg.settle_factor, tol=cfg.settle_tol) if settle else None
    anderson = Anderson(cfg.anderson_memory, cfg.anderson_guard)
    norm2, cost = (tech**2).sum(axis=1), (instance.prices * tech).sum(axis=1)
    Z, U = np.zeros((n, m)), np.zeros((n, m))
    status, gap, k = "max_iterations", np.inf, 0
    for k in range(rounds):
        rhos = rho * (schedule.scale if schedule is not None else np.ones(n))
        R = Z - U
        s = np.where(norm2 > 0, ((tech * R).sum(axis=1) - cost / rhos) / np.where(norm2 > 0, norm2, 1), 0.0)
        X = s.clip(0, 1)[:, None] * tech
        Z_prev, U_prev = Z, U
        Z = variant.z_update(X, U_prev, rho if schedule is None else rhos)
        U = U_prev + X - Z
        f = float((instance.prices * X).sum()) + variant.coupling_cost(X.sum(axis=0))
        gap = abs(f - f_star) / max(1.0, abs(f_star))
        record = _record(k, X, Z, Z_prev, U, rho=rho, cfg=cfg, scale=None if schedule is None else schedule.scale)
        verdict = _verdict(record, cfg)
        if verdict is not None:
            status = verdict
            break
        Z, U = anderson.step(Z_prev, U_prev, Z, U)
        U, rho = _adapt_penalties(record, X, U, cfg=cfg, settle=schedule, anderson=anderson)
    return status, k + 1, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100])
    parser.add_argument("--seeds", type=int, nargs=2, default=[101, 111], metavar=("FIRST", "END"),
                        help="seeds FIRST .. END-1")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--options", nargs="+", default=list(OPTIONS), choices=list(OPTIONS), metavar="LABEL")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print("| N | rounds | target | option | gap <= 1e-4 at the budget | median gap | worst gap | converged "
          "| median rounds |\n|---|---|---|---|---|---|---|---|---|")
    seeds = range(*args.seeds)
    for n, reachable, label in itertools.product(args.sizes, (True, False), args.options):
        rho = float(OPTIONS[label]["rho"])
        runs = [run(priced_instance(n, reachable, seed), 1.0 / n if rho < 0 else rho,
                    bool(OPTIONS[label]["settle"]), args.rounds) for seed in seeds]
        gaps = [g for _, _, g in runs]
        done = [k for status, k, g in runs if status == "converged" and g <= GAP]
        print(f"| {n} | {args.rounds} | {'reachable' if reachable else 'unreachable'} | {label} "
              f"| {sum(g <= GAP for g in gaps)}/{len(runs)} | {np.median(gaps):.1e} | {max(gaps):.1e} "
              f"| {len(done)}/{len(runs)} | {int(np.median(done)) if done else '-'} |", flush=True)


if __name__ == "__main__":
    main()
