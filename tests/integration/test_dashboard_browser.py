"""The dashboard in a real browser against a real fleet: headless Chromium (selenium) drives the page served by an
``edge-agent dashboard`` process, on the session's Mosquitto, beside real agent and coordinator processes.

The page must list exactly the fleet's devices, chart a run's residuals, and show a killed device offline; the
coordinator's and the dashboard's Prometheus endpoints are scraped and parsed. A screenshot is kept in
``out/test-artifacts/`` (``EDGE_AGENT_ARTIFACTS`` to put it elsewhere).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from edge_agent.algorithms.admm import AdmmJobSpec
from edge_agent.devices import Battery, Generator
from edge_agent.runtime import PrivateBroker, free_port
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.fleet import submit_jobs, wait_for_port
from edge_agent.runtime.host import start_device_agents
from edge_agent.runtime.processes import ProcessGroup
from edge_agent.runtime.progress import POINTS_PER_RECORD

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium and chromedriver are needed (scripts/setup.sh dev installs them with apt)")
        pytest.skip("Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _devices(prefix: str) -> list[DeviceConfig]:
    return [
        DeviceConfig(id="gen-a", prefix=prefix, device=Generator(
            kind="generator", id="gen-a", p_max=200, cost_linear=20, cost_quadratic=0.05)),
        DeviceConfig(id="gen-b", prefix=prefix, device=Generator(
            kind="generator", id="gen-b", p_max=150, cost_linear=25, cost_quadratic=0.04)),
        DeviceConfig(id="store", prefix=prefix, device=Battery(
            kind="battery", id="store", power_max=50, energy_max=100, energy_initial=50, wear_cost=0.01)),
    ]


def _rows(driver: webdriver.Chrome) -> dict[str, str]:
    """The device table as the page shows it now (read in one script: the page redraws it every second)."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#devices tbody tr')].map(r => [r.dataset.agent, r.dataset.online])")
    return dict(rows)


def _run(driver: webdriver.Chrome) -> dict[str, object] | None:
    """The first run card: its status, chart points, whether a chart was drawn, result rows."""
    return driver.execute_script(  # type: ignore[no-any-return]
        "const c = document.querySelector('[data-run]'); return c && {status: c.dataset.status, "
        "points: Number(c.dataset.points), canvas: !!c.querySelector('.chart canvas'), "
        "rows: c.querySelectorAll('table.result tbody tr').length}")


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {sample.name + "".join(f"|{v}" for v in sample.labels.values()): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_page_shows_the_fleet_its_runs_and_a_killed_device(
    broker: PrivateBroker, prefix: str, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    devices = _devices(prefix)
    web_port, dash_metrics, coord_metrics = free_port(), free_port(), free_port()
    edge = [sys.executable, "-m", "edge_agent"]
    with ProcessGroup(tmp_path) as processes:
        processes.start("dashboard", [*edge, "dashboard", "--broker", broker.url, "--prefix", prefix,
                                      "--port", str(web_port), "--metrics-port", str(dash_metrics)])
        start_device_agents(processes, devices, broker.url)
        processes.start("coordinator", [*edge, "coordinator", "--broker", broker.url, "--prefix", prefix,
                                        "--metrics-port", str(coord_metrics)])
        url = wait_for_port("127.0.0.1", web_port, processes)
        browser.get(url)
        wait = WebDriverWait(browser, 30, poll_frequency=0.1)
        expected = {d.id: "true" for d in devices}
        wait.until(lambda d: _rows(d) == expected)  # exactly the fleet's devices, all online

        job = AdmmJobSpec(algorithm="admm-sharing", name="browser-test", target=[180.0], priorities=[1000.0])
        [report] = asyncio.run(submit_jobs([job], broker.url, prefix, 60.0, wait_for=[d.id for d in devices],
                                           processes=processes))
        assert report.status == "converged"
        card = wait.until(lambda d: (run := _run(d)) is not None and run["status"] == "converged" and run["rows"]
                          and run)
        assert card["points"] >= min(report.iterations, 2)  # every round, or a thinned sample of at least 2
        assert card["canvas"]  # uPlot drew the chart
        assert card["rows"] == len(devices)

        artefacts = Path(os.environ.get("EDGE_AGENT_ARTIFACTS", ROOT / "out" / "test-artifacts"))
        artefacts.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(artefacts / "dashboard.png"))

        killed = time.monotonic()
        processes.kill("gen-b")  # SIGKILL: no clean leave, the broker sends its will after the will delay
        wait.until(lambda d: _rows(d).get("gen-b") == "false")
        offline_after_s = time.monotonic() - killed
        print(f"gen-b shown offline {offline_after_s:.2f} s after SIGKILL")
        assert _rows(browser) == {**expected, "gen-b": "false"}
        browser.save_screenshot(str(artefacts / "dashboard-offline.png"))

        coordinator = _scrape(coord_metrics)
        assert coordinator["edge_agent_runs_total|admm-sharing|converged"] == 1
        assert coordinator["edge_agent_run_duration_seconds_count|admm-sharing"] == 1
        assert coordinator["edge_agent_mqtt_messages_sent_total"] >= 2 * report.iterations * len(devices) / 2
        assert coordinator["edge_agent_mqtt_connected"] == 1
        assert coordinator["edge_agent_mqtt_decode_errors_total"] == 0
        dashboard = _scrape(dash_metrics)
        assert dashboard["edge_agent_mqtt_messages_received_total"] > len(devices)
        assert dashboard["edge_agent_dashboard_clients"] >= 1
        assert dashboard["edge_agent_agents_online"] == len(devices)  # the coordinator online, gen-b gone



def test_fleet_up_with_a_dashboard_serves_the_fleet_until_stopped(broker: PrivateBroker, tmp_path: Path) -> None:
    prefix = f"fd{os.getpid()}"
    fleet = {"name": "two", "prefix": prefix,
             "devices": [d.model_dump(mode="json", exclude_none=True) for d in _devices(prefix)[:2]],
             "jobs": [{"name": "pair", "algorithm": "admm-sharing", "target": [100.0], "priorities": [1000.0]}]}
    for device in fleet["devices"]:
        device["device"].pop("id", None)
    path = tmp_path / "fleet.yaml"
    path.write_text(json.dumps(fleet), encoding="utf-8")  # JSON is YAML
    port = free_port()
    command = [sys.executable, "-m", "edge_agent", "fleet", "up", str(path), "--broker", broker.url, "--dashboard",
               "--dashboard-port", str(port)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stderr is not None
            lines = []
            while not any("stay up" in line for line in lines):  # the jobs ran; the fleet is held up
                line = process.stderr.readline()
                assert line, f"fleet up ended early: {''.join(lines)}"
                lines.append(line)
            assert any(f"dashboard: http://127.0.0.1:{port}/" in line for line in lines)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5) as response:
                state = json.load(response)
            devices = {a["id"]: a["online"] for a in state["agents"] if a["kind"]}
            assert devices == {"gen-a": True, "gen-b": True}
            [run] = state["runs"]
            assert run["status"] == "converged"
            assert run["result"]["participants"].keys() == devices.keys()
            rounds = [point[0] for point in run["points"]]
            assert rounds == sorted(set(rounds))  # one point per round drawn, in order
            # every round, unless rounds came faster than progress records (each thinned to POINTS_PER_RECORD)
            assert min(run["iteration"], POINTS_PER_RECORD) <= len(rounds) <= run["iteration"]
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "converged" in out
    assert "stopping the fleet" in err
