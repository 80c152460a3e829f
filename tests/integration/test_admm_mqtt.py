"""ADMM over MQTT (coordinator on one connection, flex actors on another) matches the in-process run."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.admm import (
    AdmmCoordinator,
    AdmmFlexActor,
    AdmmResult,
    SharingVariant,
    create_admm_flex_actor_one_to_many,
)
from edge_agent.carrier import InProcNetwork
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.runtime import PrivateBroker

from .helpers import FAST

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TARGET, PRIORITIES = [-4.0, 0.0, 6.0], [5.0, 1.0, 1.0]


def fleet() -> list[AdmmFlexActor]:
    return [
        create_admm_flex_actor_one_to_many(10, [0.1, 0.5, -1], id="a1"),
        create_admm_flex_actor_one_to_many(15, [0.1, 0.5, -1], id="a2"),
        create_admm_flex_actor_one_to_many(10, [-1, 0, 1], id="a3"),
    ]


def coordinator_for(actors: list[AdmmFlexActor]) -> AdmmCoordinator:
    return AdmmCoordinator(SharingVariant(TARGET, PRIORITIES), [a.id for a in actors], 3)


async def test_admm_over_mqtt_matches_the_in_process_run(broker: PrivateBroker, prefix: str) -> None:
    actors = fleet()
    coordinator = coordinator_for(actors)
    async with InProcNetwork() as net:
        for actor in actors:
            net.add(actor)
        expected: AdmmResult = await coordinator.run(net.add(coordinator))

    actors = fleet()
    coordinator = coordinator_for(actors)
    async with (
        MqttConnection(broker.url, codec=registry.codec(),
                       prefix=prefix, client_id=f"{prefix}-devices", options=FAST) as devices,
        MqttConnection(broker.url, codec=registry.codec(),
                       prefix=prefix, client_id=f"{prefix}-coord", options=FAST) as hub,
    ):
        for actor in actors:
            devices.add(actor)
        carrier = hub.add(coordinator)
        await carrier.wait_present([a.id for a in actors], within_s=5)
        result = await coordinator.run(carrier)

    assert result.status == expected.status == "converged"
    assert result.iterations == expected.iterations
    assert result.objective == pytest.approx(expected.objective, rel=1e-12, abs=1e-12)
    for pid in expected.x:
        np.testing.assert_allclose(result.x[pid], expected.x[pid], rtol=0, atol=1e-12)
    assert devices.stats.duplicates == hub.stats.duplicates == 0
    assert devices.stats.received == hub.stats.received == 3 * result.iterations
