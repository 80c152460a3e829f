"""One participant of a seed-API script, for ``test_dro_mqtt.py``: the actors are built with the seed's API
(``build_*``), exactly as the in-process run builds them; only the carrier differs.

    python tests/integration/dro_script.py averaging|admm <broker url> <prefix> <address> <peers, comma-separated>

prints this participant's result as one JSON line, prefixed with ``RESULT``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np

from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.dro import (
    ADMMGenericCoordinator,
    ADMMSharingGlobalActor,
    ADMMTargetDistanceObjective,
    LinearCostEconomicDispatchConsensusActor,
    create_admm_flex_actor_one_to_many,
    create_admm_sharing_data,
    create_admm_start,
    create_averaging_consensus_participant,
    create_averaging_consensus_start,
    start_optimization,
)
from edge_agent.dro.mqtt import MqttSeedCarrier, seed_codec

RESULT = "dro-result "  # the line carrying the result (logs may come before and after it)
GENERATORS = [(2.0, 0.040, 80.0), (3.0, 0.030, 90.0), (4.0, 0.035, 70.0), (4.0, 0.030, 70.0), (2.5, 0.040, 80.0)]
DEVICES = [(10.0, [0.1, 0.5, -1.0]), (15.0, [0.1, 0.5, -1.0]), (10.0, [-1.0, 0.0, 1.0])]


def build_dispatch(index: int, finished: Any) -> Any:
    cost, eps, p_max = GENERATORS[index]
    return create_averaging_consensus_participant(
        finished, LinearCostEconomicDispatchConsensusActor(cost=cost, p_max=p_max, epsilon=eps, rho=0.01),
        initial_lam=0.0, max_iter=3000)


def dispatch_start() -> Any:
    return create_averaging_consensus_start(0.0, np.array([300.0]))


def build_device(index: int) -> Any:
    return create_admm_flex_actor_one_to_many(*DEVICES[index])


def build_coordinator() -> ADMMGenericCoordinator:
    return ADMMGenericCoordinator(ADMMSharingGlobalActor(ADMMTargetDistanceObjective()), abs_tol=1e-6, rel_tol=1e-6)


def sharing_start() -> Any:
    return create_admm_start(create_admm_sharing_data([-4, 0, 6], [5, 1, 1]))


async def main(kind: str, url: str, prefix: str, address: str, peers: list[str]) -> None:
    index = peers.index(address)
    done = asyncio.Event()
    if kind == "averaging":
        actor: Any = build_dispatch(index, lambda algorithm, carrier: done.set())
    elif address == peers[-1]:
        actor = build_coordinator()
    else:
        actor = build_device(index)
    async with MqttConnection(url, codec=seed_codec(), prefix=prefix, client_id=f"{prefix}-{address}") as connection:
        carrier = MqttSeedCarrier(connection, address, actor, peers)
        await connection.wait_present(peers, 30)
        await connection.settled()
        if kind == "averaging":
            if address == peers[0]:
                carrier.send_to_other(dispatch_start(), peers[1])
            await asyncio.wait_for(done.wait(), 60)
            print(RESULT + json.dumps({"lam": actor.lam.tolist(), "P": actor.actor.P.tolist()}))
        elif address == peers[-1]:
            xs = await start_optimization(actor, carrier, sharing_start(), {})
            print(RESULT + json.dumps({"x": [x.tolist() for x in xs], "status": actor.last_result.status}))
        else:
            await connection.wait_absent([peers[-1]], 120)
            print(RESULT + json.dumps({"x": actor.x.tolist()}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split(",")))
