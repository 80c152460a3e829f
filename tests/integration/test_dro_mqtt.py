"""A seed-API script over MQTT (one process per participant, ``MqttSeedCarrier``) gives what the same script
gives in process (``SimpleCarrier``): the averaging dispatch and the three-actor ADMM sharing example."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.dro import start_coordinated_optimization, start_distributed_optimization
from edge_agent.runtime import PrivateBroker

from . import dro_script

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SCRIPT = Path(dro_script.__file__)


async def _processes(broker: PrivateBroker, prefix: str, kind: str, peers: list[str]) -> dict[str, Any]:
    started = [await asyncio.create_subprocess_exec(sys.executable, str(SCRIPT), kind, broker.url, prefix, address,
                                                    ",".join(peers), stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE) for address in peers]
    try:
        outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in started)), 100)
    finally:
        for process in started:
            if process.returncode is None:
                process.kill()
                await process.wait()
    results = {}
    for address, process, (out, err) in zip(peers, started, outputs, strict=True):
        assert process.returncode == 0, err.decode()[-2000:]
        lines = [line for line in out.decode().splitlines() if line.startswith(dro_script.RESULT)]
        assert len(lines) == 1, out.decode()[-2000:]
        results[address] = json.loads(lines[0].removeprefix(dro_script.RESULT))
    return results


async def test_the_averaging_dispatch_gives_the_same_prices_over_mqtt(broker: PrivateBroker, prefix: str) -> None:
    actors = [dro_script.build_dispatch(i, lambda a, c: None) for i in range(5)]
    await start_distributed_optimization(actors, dro_script.dispatch_start())
    over_mqtt = await _processes(broker, prefix, "averaging", ["1", "2", "3", "4", "5"])
    for i, actor in enumerate(actors):
        assert over_mqtt[str(i + 1)]["lam"] == pytest.approx(actor.lam.tolist(), abs=1e-9)
        assert over_mqtt[str(i + 1)]["P"] == pytest.approx(actor.actor.P.tolist(), abs=1e-9)
    assert sum(r["P"][0] for r in over_mqtt.values()) == pytest.approx(300.0, abs=0.01)


async def test_the_admm_sharing_example_gives_the_same_shares_over_mqtt(broker: PrivateBroker, prefix: str) -> None:
    coordinator = dro_script.build_coordinator()
    in_process = await start_coordinated_optimization([dro_script.build_device(i) for i in range(3)], coordinator,
                                                      dro_script.sharing_start())
    over_mqtt = await _processes(broker, prefix, "admm", ["1", "2", "3", "4"])
    assert over_mqtt["4"]["status"] == "converged"
    assert np.array(over_mqtt["4"]["x"]) == pytest.approx(np.array(in_process), abs=1e-6)
    for i in range(3):
        assert over_mqtt[str(i + 1)]["x"] == pytest.approx(in_process[i], abs=1e-6)
