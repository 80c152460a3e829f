"""Agents forked from the fork server (``ProcessGroup(spawn="fork")``, ``docs/lean-agents.md``): they come up
present, answer a run like executed agents, fail visibly on a bad configuration, and leave nothing behind."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_agent.errors import ConfigError, TransportError
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.processes import ProcessGroup

from .helpers import ROOT, start_demo_generators

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_forked_agents_are_present_answer_a_run_and_leave_no_orphan(
    broker: PrivateBroker, prefix: str, tmp_path: Path
) -> None:
    with ProcessGroup(tmp_path, spawn="fork") as group:
        start_demo_generators(group, broker.url, prefix, tmp_path)
        pids = [child.process.pid for child in group.children]
        server = {_parent(pid) for pid in pids}
        assert len(server) == 1
        assert server != {os.getpid()}  # forked by the server, not started by this process
        (server_pid,) = server
        assert len(os.listdir(f"/proc/{server_pid}/task")) == 1  # every family loaded, still one thread: safe to fork
        done = subprocess.run(  # submit waits for every participant's presence before the job
            [sys.executable, "-m", "edge_agent", "submit", str(ROOT / "deploy/jobs/ieee14.yaml"),
             "--broker", broker.url, "--prefix", prefix, "--json"],
            capture_output=True, text=True, timeout=150, check=False,
        )
        group.check()  # every forked process still serves after the job
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    powers = [report["participants"][f"gen-{i}"]["x"][0] for i in range(1, 6)]
    assert powers == pytest.approx([66.240, 71.653, 47.131, 54.986, 59.990], abs=0.01)  # as executed agents
    assert all(_gone(pid) for pid in [*pids, *server])
    assert "agent.stopping" in (tmp_path / "gen-1.log").read_text()  # a clean leave on SIGTERM


def test_a_forked_agent_that_fails_is_reported_with_its_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad-1\ndevice: {kind: generator, p_max: -1, cost_quadratic: -2}\n")
    with ProcessGroup(tmp_path, spawn="fork") as group:
        child = group.start("bad-1", [sys.executable, "-m", "edge_agent", "agent", "--config", str(bad)])
        assert child.process.wait(timeout=60) == 2  # a configuration error, as from the executed command
        with pytest.raises(TransportError, match=r"bad-1 exited with status 2[\s\S]*cost_quadratic"):
            group.check()


def test_commands_that_are_not_edge_agent_are_still_executed(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path, spawn="fork") as group:
        child = group.start("echo", ["/bin/sh", "-c", "echo hello"])
        assert child.process.wait(timeout=30) == 0
    assert (tmp_path / "echo.log").read_text() == "hello\n"


@pytest.mark.parametrize("scenario", ["ieee14_dispatch_admm.yaml", "ieee14_dispatch_primal_dual.yaml"])
def test_the_cli_solves_over_mqtt_with_forked_agents_like_in_process(scenario: str) -> None:
    path = ROOT / "scenarios" / scenario
    forked = subprocess.run([sys.executable, "-m", "edge_agent", "solve", str(path), "--carrier", "mqtt",
                             "--spawn", "fork", "--json"], capture_output=True, text=True, timeout=150, check=False)
    inproc = subprocess.run([sys.executable, "-m", "edge_agent", "solve", str(path), "--json"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert forked.returncode == inproc.returncode == 0, forked.stderr + inproc.stderr
    report, expected = json.loads(forked.stdout), json.loads(inproc.stdout)
    assert report["status"] == expected["status"]
    assert report["iterations"] == expected["iterations"]
    assert report["objective"] == pytest.approx(expected["objective"], rel=1e-6)
    assert report["transport"]["carrier"] == "mqtt"


def test_an_unknown_spawn_method_is_refused_naming_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"spawn 'thread' .* accepted: exec, fork"):
        ProcessGroup(tmp_path, spawn="thread")  # type: ignore[arg-type]


LAUNCHER = """
import sys
from pathlib import Path
from edge_agent.runtime.processes import ProcessGroup
folder, url = Path(sys.argv[1]), sys.argv[2]
group = ProcessGroup(folder, spawn="fork")
for config in sys.argv[3:]:
    group.start(Path(config).stem, [sys.executable, "-m", "edge_agent", "agent", "--config", config, "--broker", url])
print("pids", *(c.process.pid for c in group.children), flush=True)
sys.stdin.read()  # until killed
"""


def test_a_killed_launcher_takes_the_fork_server_and_its_agents_with_it(
    broker: PrivateBroker, prefix: str, tmp_path: Path
) -> None:
    configs = []
    for name in ("k1", "k2"):
        configs.append(tmp_path / f"{name}.yaml")
        configs[-1].write_text(f"id: {name}\nprefix: {prefix}\ndevice: {{kind: generator, p_max: 5}}\n")
    with subprocess.Popen([sys.executable, "-c", LAUNCHER, str(tmp_path), broker.url, *map(str, configs)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as launcher:
        assert launcher.stdout is not None
        line = next(line for line in launcher.stdout if line.startswith("pids "))  # after the launcher's own logs
        pids = [int(pid) for pid in line.split()[1:]]
        assert len(pids) == 2
        server = _parent(pids[0])
        launcher.kill()  # SIGKILL: no teardown code runs in the launcher
    deadline = time.monotonic() + 60
    assert [pid for pid in [server, *pids] if not _ends(pid, deadline)] == []


def _ends(pid: int, deadline: float) -> bool:
    """Wait (on a pidfd: readable once the process has exited) until ``pid`` ends or ``deadline`` passes."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([handle], [], [], max(0.0, deadline - time.monotonic()))
    finally:
        os.close(handle)
    return bool(readable)
