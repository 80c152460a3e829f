"""The dashboard's view of a fleet (``dashboard/state.py``) and its HTTP endpoints (``dashboard/server.py``)."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_agent.algorithms.admm.job import AdmmJobResult
from edge_agent.carrier.mqtt_options import Inbound
from edge_agent.carrier.presence import PresenceRecord
from edge_agent.carrier.topics import Topics
from edge_agent.dashboard import Dashboard, FleetState
from edge_agent.dashboard.state import MAX_POINTS, MAX_RUNS
from edge_agent.runtime.progress import ProgressPoint, RunProgress

TOPICS = Topics("edge")


def presence(agent: str, online: bool, session: str = "s1", reason: str = "connected") -> tuple[str, bytes]:
    record = PresenceRecord(online=online, agent=agent, node=agent, session=f"{agent}:{session}",
                            reason=reason)  # type: ignore[arg-type]
    return TOPICS.presence(agent), record.encode()


def progress(run: str, status: str, rounds: range) -> tuple[str, bytes]:
    record = RunProgress(run=run, job="job", algorithm="admm-sharing", status=status, iteration=rounds.stop,
                         participants=2, present=2, started_at=0.0, elapsed_s=1.0,
                         points=[ProgressPoint(round=k, primal=1.0 / (k + 1), dual=None) for k in rounds])
    return TOPICS.record("coordinator", "progress"), record.model_dump_json().encode()


def state() -> FleetState:
    return FleetState(TOPICS, now=lambda: 50.0)


def test_devices_come_online_get_their_kind_and_go_offline_on_their_will() -> None:
    view = state()
    view.receive(*presence("gen-1", True))
    view.receive(TOPICS.record("gen-1", "device"), json.dumps({"id": "gen-1", "kind": "generator"}).encode())
    [event] = view.receive(*presence("gen-1", False, reason="will"))
    assert event == {"type": "agent", "id": "gen-1", "kind": "generator", "online": False, "since": 50.0,
                     "last_seen": 50.0}
    assert view.snapshot()["agents"] == [event]


@pytest.mark.parametrize(("topic", "payload"), [
    (TOPICS.presence("gen-1"), b"{not json"),
    (TOPICS.record("gen-1", "device"), json.dumps({"id": "gen-2", "kind": "generator"}).encode()),  # not its own
    (TOPICS.record("gen-1", "device"), json.dumps({"id": "gen-1", "kind": "x" * 100}).encode()),
    (TOPICS.record("c", "progress"), json.dumps({"kind": "run.progress", "run": "a/b"}).encode()),
    (TOPICS.run("c", "r1"), b"[]"),
    ("elsewhere/gen-1/presence", b"{}"),
])
def test_a_malformed_record_is_counted_and_changes_nothing(topic: str, payload: bytes) -> None:
    view = state()
    assert view.receive(topic, payload) == []
    assert view.rejected == 1
    assert view.snapshot()["agents"] == view.snapshot()["runs"] == []


def test_runs_gather_their_points_and_final_report_within_bounds() -> None:
    view = state()
    view.receive(*progress("r1", "running", range(10)))
    [event] = view.receive(*progress("r1", "converged", range(10, 12)))
    assert event["status"] == "converged"
    assert [p[0] for p in event["points"]] == [10, 11]  # only the new points travel
    report = {"status": "converged", "objective": 3.0, "iterations": 12, "wall_s": 0.5, "aggregate": [30.0],
              "participants": {"g0": {"x": [10.0], "cost": 1.0}, "g1": {"x": [20.0], "cost": 2.0}}}
    answer = AdmmJobResult(job="job", report=report)  # type: ignore[arg-type]
    [event] = view.receive(TOPICS.run("coordinator", "r1"), answer.model_dump_json().encode())
    assert event["result"]["participants"]["g1"] == {"x": [20.0], "cost": 2.0}
    [run] = view.snapshot()["runs"]
    assert len(run["points"]) == 12
    for k in range(MAX_POINTS // 60 + 2):  # a long run: the points stay bounded
        view.receive(*progress("r1", "running", range(100 + 64 * k, 100 + 64 * (k + 1))))
    assert len(view.snapshot()["runs"][0]["points"]) <= MAX_POINTS
    for k in range(MAX_RUNS + 5):
        view.receive(*progress(f"other-{k}", "running", range(1)))
    assert len(view.snapshot()["runs"]) == MAX_RUNS


def test_another_agent_cannot_publish_a_run_it_does_not_drive() -> None:
    view = state()
    view.receive(*progress("r1", "running", range(3)))
    _, payload = progress("r1", "converged", range(3, 4))
    assert view.receive(TOPICS.record("intruder", "progress"), payload) == []
    assert view.snapshot()["runs"][0]["status"] == "running"


async def test_the_server_serves_the_page_its_assets_and_a_snapshot_then_events() -> None:
    dashboard = Dashboard(state())
    async with TestClient(TestServer(dashboard.app)) as client:
        page = await client.get("/")
        assert "uPlot.iife.min.js" in await page.text()
        chart = await client.get("/static/uPlot.iife.min.js")
        assert chart.status == 200
        assert "uPlot" in await chart.text()
        assert (await client.get("/static/..%2Fstate.py")).status == 404
        events = await client.get("/events")
        first = await events.content.readline()
        assert json.loads(first.decode().removeprefix("data: "))["type"] == "snapshot"
        await events.content.readline()
        topic, payload = presence("gen-1", True)
        dashboard.on_message(Inbound(topic, payload, retain=False))
        line = await events.content.readline()
        assert json.loads(line.decode().removeprefix("data: "))["id"] == "gen-1"
        snapshot = await (await client.get("/api/state")).json()
        assert [a["id"] for a in snapshot["agents"]] == ["gen-1"]
        events.close()
