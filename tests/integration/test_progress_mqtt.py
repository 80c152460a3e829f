"""Progress on the wire from a launcher (``runtime/host.launch``), read back by a watcher, on a real Mosquitto."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from edge_agent import registry
from edge_agent.carrier.base import Host
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.topics import Route
from edge_agent.results import RunReport
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.host import launch
from edge_agent.runtime.progress import RunProgress, RunResult

from .helpers import FAST

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class _Plan:
    """A plan with no agent processes whose launch returns a report with a residual history."""

    hosting = "none"

    def agents(self) -> Sequence[object]:
        return []

    async def launch(self, host: Host) -> RunReport:
        history = [{"round": k, "r_primal": 2.0 ** -k, "r_dual": 0.1} for k in range(10)]
        return RunReport(scenario="tiny", algorithm="admm-sharing", status="converged", objective=1.0,
                         iterations=10, messages=0, wall_s=0.1, aggregate=[1.0],
                         participants={"d": {"x": [1.0]}}, extra={"history": history})


async def test_a_launcher_announces_its_run_and_publishes_its_report(broker: PrivateBroker, prefix: str) -> None:
    records: list[RunProgress] = []
    results: dict[str, RunResult] = {}
    done = asyncio.Event()

    def on_progress(route: Route, payload: bytes) -> None:
        records.append(RunProgress.model_validate_json(payload))

    def on_result(route: Route, payload: bytes) -> None:
        assert route.receiver is not None
        results[route.receiver] = RunResult.model_validate_json(payload)
        done.set()

    async with MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as watcher:
        watcher.follow("progress", watcher.topics.all_of("progress"), on_progress)
        watcher.follow("run", watcher.topics.all_of("runs"), on_result)
        await watcher.settled()
        report = await launch(_Plan(), broker.url, prefix, mqtt=FAST)  # type: ignore[arg-type]
        await asyncio.wait_for(done.wait(), timeout=10)

    assert [r.status for r in records] == ["running", "converged"]
    assert records[0].run == records[1].run
    assert [p.round for p in records[1].points] == list(range(10))
    published = results[records[0].run].report
    assert published == {key: value for key, value in report.to_json().items() if key != "transport"}
