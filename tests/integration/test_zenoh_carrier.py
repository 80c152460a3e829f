"""What the Zenoh carrier does beyond the shared contract (test_carrier_conformance.py): a request whose receiver
was away is sent again when the receiver's liveliness token reappears, and answered once."""

from __future__ import annotations

import pytest

from edge_agent import registry
from edge_agent.algorithms.admm.messages import AdmmAnswer
from edge_agent.carrier.zenoh_options import ZenohOptions
from edge_agent.runtime.connect import free_ports

from .fabric import zenoh_or_skip
from .helpers import Echo, request

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


async def test_a_request_to_an_agent_that_was_away_goes_again_when_it_is_back(prefix: str) -> None:
    zenoh_or_skip()
    from edge_agent.carrier.zenoh import ZenohConnection

    endpoint = f"tcp/127.0.0.1:{free_ports(1)[0]}"
    hub_options, side_options = ZenohOptions(listen=(endpoint,)), ZenohOptions(connect=(endpoint,))
    async with ZenohConnection(hub_options, codec=registry.codec(), prefix=prefix, node="hub") as hub:
        me = hub.add(Echo("me"))
        async with ZenohConnection(side_options, codec=registry.codec(), prefix=prefix, node="side") as side:
            side.add(Echo("echo"))
            await hub.wait_present(["echo"], within_s=10)
        await hub.wait_absent(["echo"], within_s=10)
        answer = me.request(request(5), "echo", timeout=20)  # nobody subscribes: Zenoh drops it
        echo = Echo("echo")
        async with ZenohConnection(side_options, codec=registry.codec(), prefix=prefix, node="side") as side:
            side.add(echo)  # a new session: its token makes the hub send the waiting request again
            reply = await answer
    assert isinstance(reply, AdmmAnswer)
    assert reply.round == 5
    assert hub.stats.resent == 1
    assert list(echo.calls.values()) == [1]
