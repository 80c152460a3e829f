"""Outages of a carrier's own transport (issue 11, finding 11): request deadlines do not count the time the
connection was down, a connection down for a whole timeout is named instead of the peer, and the COHDA launcher
neither takes an outage for the end of a run nor ends one it has not resynchronised since."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.admm.messages import AdmmRequest
from edge_agent.algorithms.cohda import launcher as cohda_launcher
from edge_agent.algorithms.cohda.launcher import CohdaLauncher
from edge_agent.algorithms.cohda.plan import CohdaPlan
from edge_agent.algorithms.cohda.scenario import CohdaScenario
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.inproc import InProcCarrier, InProcNetwork
from edge_agent.carrier.outages import Outages
from edge_agent.clock import ManualClock
from edge_agent.device_agent import DeviceAgent
from edge_agent.errors import RunTimeout, TransportError
from edge_agent.family import RunOptions
from edge_agent.messages import Envelope, Message
from edge_agent.registry import load_scenario

from .helpers import on_the_manual_clock

ROOT = Path(__file__).resolve().parents[2]


class _Silent:
    def __init__(self, id: str) -> None:
        self.id = id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        return None


def test_downtime_counts_only_the_overlap_with_the_interval_asked_about() -> None:
    link = Outages("the test link")
    link.lost(1.0)
    link.restored(3.0)
    link.lost(5.0)
    assert (link.connected, link.losses, link.restored_at) == (False, 2, 3.0)
    assert link.downtime(0.0, 4.0) == pytest.approx(2.0)
    assert link.downtime(2.0, 6.0) == pytest.approx(2.0)  # 1 s of the first outage, 1 s of the one going on
    assert link.down_for(6.5) == pytest.approx(1.5)
    link.restored(7.0)
    assert link.down_for(8.0) == 0.0
    assert link.downtime(0.0, 10.0) == pytest.approx(4.0)


@pytest.fixture
def link(monkeypatch: pytest.MonkeyPatch) -> Outages:
    """The in-process carriers' transport, made losable by the test."""
    outages = Outages("the test link")
    monkeypatch.setattr(InProcCarrier, "outages", property(lambda self: outages))
    return outages


async def test_a_request_deadline_does_not_run_while_the_connection_is_down(link: Outages) -> None:
    clock = ManualClock()
    async with InProcNetwork(clock=clock) as network:
        me = network.add(_Silent("me"))
        network.add(_Silent("peer"))
        answer = me.request(_request(), "peer", timeout=1.0)
        await clock.advance(0.5)
        link.lost(clock.now())
        await clock.advance(0.8)  # past the 1 s timeout, but only 0.5 s of it passed while the link was up
        assert not answer.done()
        link.restored(clock.now())
        await clock.advance(0.4)
        assert not answer.done()
        await clock.advance(0.2)  # 1 s of connected time
        assert answer.done()
        with pytest.raises(RunTimeout, match=r"'peer' did not answer 'admm.request' within 1 s \(not counting 0.8 s "
                                             r"while the test link was down\)"):
            answer.result()


async def test_a_connection_down_for_a_whole_timeout_is_named_instead_of_the_peer(link: Outages) -> None:
    clock = ManualClock()
    async with InProcNetwork(clock=clock) as network:
        me = network.add(_Silent("me"))
        network.add(_Silent("peer"))
        answer = me.request(_request(), "peer", timeout=1.0)
        await clock.advance(0.3)
        link.lost(clock.now())
        await clock.advance(0.9)
        assert not answer.done()
        await clock.advance(0.2)
        assert answer.done()
        with pytest.raises(TransportError, match=r"no answer from 'peer' to 'admm.request': the test link has been "
                                                 r"down for 1 s, longer than the 1 s timeout; 'peer' may be fine"):
            answer.result()


def _request() -> Message:
    return AdmmRequest(round=0, rho=1.0, reference=np.zeros(1))


def _scenario() -> CohdaScenario:
    scenario = load_scenario(ROOT / "scenarios/cohda_small_world.yaml")
    assert isinstance(scenario, CohdaScenario)
    return scenario


async def test_the_cohda_launcher_does_not_end_a_run_during_an_outage_and_resynchronises_after_it(
    link: Outages, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link is down from the start (nothing is really lost in process) for 10 s, far longer than
    ``quiet_s``: the run ends only after the link is back and every participant was asked for its state."""
    scenario = _scenario()
    joins = scenario.joins("r1", RunOptions(run_id="r1"))
    asked: list[tuple[float, list[str]]] = []
    ask = cohda_launcher._End._ask

    def record(self: cohda_launcher._End, participants: list[str]) -> None:
        asked.append((clock.now(), list(participants)))
        ask(self, participants)

    monkeypatch.setattr(cohda_launcher._End, "_ask", record)
    clock = ManualClock()
    async with InProcNetwork(codec=registry.codec(), clock=clock) as network:
        for device in CohdaPlan(scenario).agents():
            network.add(DeviceAgent(device))
        carrier = network.add(launcher := CohdaLauncher("launcher"))
        link.lost(clock.now())
        clock.call_later(10.0, lambda: link.restored(clock.now()))
        result = await on_the_manual_clock(network, clock, launcher.run(carrier, "r1", joins, quiet_s=0.2))
    assert result.resyncs == 1
    assert set(result.choices) == set(joins)
    assert all(choice.agreed for choice in result.choices.values())
    assert asked[-1][1] == list(joins)  # finally everybody, once all were heard again
    assert asked[0][0] >= 10.0  # nobody was asked while the link was down
    assert clock.now() >= 10.2  # ended only after quiet_s of connected time after the resync


async def test_the_cohda_launcher_fails_naming_the_outage_when_the_link_stays_down(link: Outages) -> None:
    scenario = _scenario()
    joins = scenario.joins("r2", RunOptions(run_id="r2"))
    clock = ManualClock()
    async with InProcNetwork(codec=registry.codec(), clock=clock) as network:
        for device in CohdaPlan(scenario).agents():
            network.add(DeviceAgent(device))
        carrier = network.add(launcher := CohdaLauncher("launcher"))
        link.lost(clock.now())
        with pytest.raises(TransportError, match=r"COHDA run 'r2' cannot be completed within 5 s: the test link was "
                                                 r"lost \(1 outage\(s\)\) and is still down; the result would be "
                                                 r"wrong, so there is none"):
            await on_the_manual_clock(network, clock, launcher.run(carrier, "r2", joins, quiet_s=0.2, run_s=5.0,
                                                                   answer_s=1.0))
