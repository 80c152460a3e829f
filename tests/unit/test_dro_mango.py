"""Seed participants hosted as roles of mango agents: one mango TCP container, and two on loopback, give what
the in-process ``SimpleCarrier`` run gives (ADMM sharing, averaging dispatch)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import numpy as np
import pytest

mango = pytest.importorskip(
    "mango", reason="mango hosting needs the optional extra: pip install -e '.[mango]' (mango-agents 2.4)")

from edge_agent.dro import start_coordinated_optimization, start_distributed_optimization, start_optimization  # noqa: E402
from edge_agent.dro.mango import SeedRole  # noqa: E402
from tests.integration import dro_script  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _place(actors: dict[str, Any], containers: int) -> tuple[list[Any], dict[str, SeedRole]]:
    """Containers on free loopback ports; participants dealt round robin; every role knows every address."""
    made = [mango.create_tcp_container(("127.0.0.1", _free_port())) for _ in range(containers)]
    home = {name: made[i % containers] for i, name in enumerate(actors)}
    directory = {name: mango.AgentAddress(home[name].addr, name) for name in actors}
    roles = {name: SeedRole(actor, name, directory) for name, actor in actors.items()}
    for name, role in roles.items():
        mango.agent_composed_of(role, register_in=home[name], suggested_aid=name)
    return made, roles


@pytest.mark.parametrize("containers", [1, 2])
async def test_admm_sharing_in_mango_agents_equals_the_in_process_run(containers: int) -> None:
    in_process = await start_coordinated_optimization([dro_script.build_device(i) for i in range(3)],
                                                      dro_script.build_coordinator(), dro_script.sharing_start())
    coordinator = dro_script.build_coordinator()
    made, roles = _place({"1": dro_script.build_device(0), "2": dro_script.build_device(1),
                          "3": dro_script.build_device(2), "4": coordinator}, containers)
    async with mango.activate(*made):
        carrier = roles["4"].carrier
        assert carrier is not None
        xs = await asyncio.wait_for(start_optimization(coordinator, carrier, dro_script.sharing_start(), {}), 60)
    assert coordinator.last_result is not None
    assert coordinator.last_result.status == "converged"
    assert np.array(xs) == pytest.approx(np.array(in_process), abs=1e-6)


@pytest.mark.parametrize("containers", [1, 2])
async def test_averaging_dispatch_in_mango_agents_equals_the_in_process_run(containers: int) -> None:
    reference = [dro_script.build_dispatch(i, lambda a, c: None) for i in range(5)]
    await start_distributed_optimization(reference, dro_script.dispatch_start())
    done = {name: asyncio.Event() for name in "12345"}
    actors = {name: dro_script.build_dispatch(i, lambda a, c, n=name: done[n].set()) for i, name in enumerate("12345")}
    made, roles = _place(actors, containers)
    async with mango.activate(*made):
        carrier = roles["1"].carrier
        assert carrier is not None
        carrier.send_to_other(dro_script.dispatch_start(), "2")
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in done.values())), 60)
    for actor, expected in zip(actors.values(), reference, strict=True):
        assert actor.lam == pytest.approx(expected.lam, abs=1e-9)
