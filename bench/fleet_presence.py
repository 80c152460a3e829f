"""Presence at scale, A/B: N hosted devices that each watch every presence record (as every connection did before
issue 17) against devices that follow only the records they need (``docs/fleet-scale.md``).

    .venv/bin/python bench/fleet_presence.py 1000 1      # N, repeats; prints one line per case

Each case: a private Mosquitto, ``host_devices`` in this process, a watcher connection; the seconds until the
watcher sees every device present and this process's CPU time meanwhile. "watch all" is obtained by handing
``device_connection`` a connection class that forces ``watch_presence=True``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import structlog

from edge_agent import registry
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.runtime import PrivateBroker, services
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.hosted import host_devices

sys.path.insert(0, os.path.dirname(__file__))
from fleet import fleet  # the same fleet as bench/fleet.py


class _WatchingAll(MqttConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "watch_presence": True})


async def _case(n: int, watch_all: bool, url: str, prefix: str) -> float:
    services.MqttConnection = _WatchingAll if watch_all else MqttConnection  # type: ignore[attr-defined]
    configs = [DeviceConfig(id=d.id, device=d, prefix=prefix, broker=url) for d in fleet(n).participants]
    stop = asyncio.Event()
    started = time.perf_counter()
    async with MqttConnection(url, codec=registry.codec(), prefix=prefix) as watcher, asyncio.TaskGroup() as tasks:
        tasks.create_task(host_devices(configs, stop), name="bench:host")
        await watcher.wait_present([c.id for c in configs], within_s=900)
        present_s = time.perf_counter() - started
        stop.set()
    return present_s


def main() -> None:
    n, repeats = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    for repeat in range(repeats):
        for watch_all in (True, False):
            with PrivateBroker() as broker:
                before, load = os.times(), os.getloadavg()[0]
                present_s = asyncio.run(_case(n, watch_all, broker.url, f"pa{repeat}{int(watch_all)}"))
                after = os.times()
                cpu_s = after.user + after.system - before.user - before.system
                print(f"N={n} {'watch all' if watch_all else 'as needed'}: all present after {present_s:.1f} s, "
                      f"process CPU {cpu_s:.1f} s, load {load:.0f}", flush=True)


if __name__ == "__main__":
    main()
