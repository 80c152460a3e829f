"""Lean agents (issue 17 part A, ``docs/lean-agents.md``): an idle agent imports no family, numpy or solver;
a family loads on the first message of one of its kinds, and the device then answers as before."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_agent import device_agent, registry
from edge_agent.algorithms.admm import AdmmRequest
from edge_agent.algorithms.consensus.job import ConsensusCollect
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.device_agent import DeviceAgent
from edge_agent.devices import ComputeNode, Generator
from edge_agent.errors import ProtocolError
from edge_agent.messages import Envelope, Message, Refusal

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "scipy", "osqp", "edge_agent.algorithms", "edge_agent.solvers", "edge_agent.runtime.host",
         "edge_agent.runtime.services")

# What `edge-agent agent --config FILE` imports before it connects (cli.main -> _agent -> run_agent), and the
# agent and codec it builds; prints the heavy modules loaded.
IDLE = f"""
import json, sys
from pathlib import Path
from edge_agent import cli, registry
args = cli._parser().parse_args(["agent", "--config", sys.argv[1]])
from edge_agent.runtime.agent import run_agent
from edge_agent.runtime.device_config import load_device_config
from edge_agent.device_agent import DeviceAgent
config = load_device_config(Path(args.config))
DeviceAgent(config.device)
registry.lazy_codec()
print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))
"""

# A generator agent on a growing codec: decode an admm.request from bytes (stdin), answer it in process.
FIRST_MESSAGE = """
import asyncio, json, sys
from edge_agent import registry
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.device_agent import DeviceAgent
from edge_agent.devices import Generator

def loaded():
    return sorted({m.split(".")[2] for m in sys.modules if m.startswith("edge_agent.algorithms.")})

payload = sys.stdin.buffer.read()
codec = registry.lazy_codec()
agent = DeviceAgent(Generator(id="g1", kind="generator", p_max=80, cost_linear=2.0, cost_quadratic=0.04))
before = loaded()
request = codec.decode(payload)

class Asker:
    id = "coordinator"
    async def handle(self, carrier, message, envelope):
        return None

async def ask():
    async with InProcNetwork(codec=codec) as network:
        network.add(agent)
        asker = network.add(Asker())
        return await asker.request(request.body, "g1", timeout=5.0)

answer = asyncio.run(ask())
print(json.dumps({"before": before, "after": loaded(), "numpy": "numpy" in sys.modules,
                  "osqp": "osqp" in sys.modules or "scipy" in sys.modules, "kind": answer.kind,
                  "x": answer.x.tolist(), "kinds": sorted(codec.kinds), "roles": sorted(agent.roles)}))
"""


def _run(script: str, *args: str, stdin: bytes = b"") -> str:
    done = subprocess.run([sys.executable, "-c", script, *args], input=stdin, capture_output=True, timeout=120,
                          check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@pytest.mark.parametrize("config", ["gen-1.yaml", "battery-1.yaml", "pv-1.yaml"])
def test_an_idle_agent_imports_no_family_no_numpy_and_no_solver(config: str) -> None:
    assert json.loads(_run(IDLE, str(ROOT / "firmware_configs" / config))) == []


def test_a_compute_node_loads_the_scheduling_family_it_serves_from_the_start() -> None:
    modules = json.loads(_run(IDLE, str(ROOT / "firmware_configs" / "node-1.yaml")))
    assert "edge_agent.algorithms.scheduling.family" in modules
    assert not [m for m in modules if m.startswith(("scipy", "osqp", "edge_agent.algorithms.admm"))]


def test_a_family_loads_on_its_first_message_and_the_device_answers_as_before() -> None:
    reference = np.linspace(0.0, 90.0, 6)
    envelope = Envelope(id="m1", sender="coordinator", receiver="g1", seq=0,
                        body=AdmmRequest(round=0, rho=2.0, reference=reference))
    result = json.loads(_run(FIRST_MESSAGE, stdin=registry.codec().encode(envelope)))
    assert result["before"] == []
    assert result["after"] == ["admm"]  # that family only
    assert result["numpy"]
    assert not result["osqp"]  # a generator's step has a closed form
    assert result["roles"] == ["admm"]
    assert {"admm.request", "admm.answer", "refusal"} <= set(result["kinds"])
    assert not [k for k in result["kinds"] if k.startswith("consensus.")]
    # the generator's proximal step, by hand: clip((rho r - c) / (2 q + rho), 0, 80)
    expected = np.clip((2.0 * reference - 2.0) / (2 * 0.04 + 2.0), 0.0, 80.0)
    assert result["kind"] == "admm.answer"
    assert result["x"] == pytest.approx(expected.tolist(), abs=1e-9)


def test_every_message_kind_starts_with_its_familys_registered_prefix_and_no_other() -> None:
    for module, family in zip(registry.FAMILIES, registry.families(), strict=True):
        for message in family.messages:
            kind = message.model_fields["kind"].default
            owners = [m for m, r in registry.FAMILIES.items() if kind.startswith(r.kinds)]
            assert owners == [module], kind
            assert registry.family_of_kind(kind) is family


def test_a_growing_codec_still_refuses_unknown_kinds_naming_the_field() -> None:
    codec = registry.lazy_codec()
    refusal = Envelope(id="m1", sender="a", receiver="b", seq=0, body=Refusal(reason="no"))
    assert codec.decode(codec.encode(refusal)).body == Refusal(reason="no")
    for kind in ("admm.nonsense", "nonsense", "consensus.collect"):
        data = json.loads(codec.encode(refusal))
        data["body"] = {"kind": kind, "run": "r1"} if kind == "consensus.collect" else {"kind": kind}
        if kind == "consensus.collect":  # a real kind: the codec grows and decodes it
            assert codec.decode(json.dumps(data)).body == ConsensusCollect(run="r1")
            continue
        with pytest.raises(ProtocolError, match="body"):
            codec.decode(json.dumps(data))
    assert {"admm.request", "consensus.collect"} <= codec.kinds


def test_preload_teaches_the_process_codec_every_familys_kinds() -> None:
    """What the fork server runs before forking agents (``fork_main.py``): its children then share one codec."""
    registry.preload()
    codec = registry.lazy_codec()
    messages = [message for family in registry.families() for message in family.messages]
    assert codec.kinds == {m.model_fields["kind"].default for m in messages} | {"refusal"}
    assert codec is registry.lazy_codec()  # one per process, whichever connection asks
    assert not codec.extend(messages)  # nothing new: the union is not built again


async def test_roles_are_made_on_first_contact_and_from_the_start_for_a_compute_node() -> None:
    generator = DeviceAgent(Generator(id="g", kind="generator", p_max=10))
    assert generator.roles == {}
    node = DeviceAgent(ComputeNode(id="n", kind="compute-node"))
    assert list(node.roles) == ["scheduling"]


CLOSED_FORM = """
import json, sys
import numpy as np
from edge_agent.devices import FlexibleLoad, Generator, OneToMany
from edge_agent.solvers.qp import ProximalSolver
devices = [Generator(id="g", kind="generator", p_min=5, p_max=80, cost_linear=2, cost_quadratic=0.04),
           OneToMany(id="o", kind="one-to-many", capacity=8, eta=[1.0, -0.5, 0.3], penalty=[0.1, 0.0, -0.2]),
           FlexibleLoad(id="f", kind="flexible-load", p_max=4, energy=10)]
methods = []
for device in devices:
    problem = device.local_problem(6)
    solver = ProximalSolver(problem, 1.0)
    solver.solve(np.linspace(-3, 3, problem.size), 1.0)
    methods.append(solver.method)
print(json.dumps({"methods": methods, "loaded": sorted({m.split(".")[0] for m in sys.modules} & {"osqp", "scipy"})}))
"""


def test_the_admm_step_of_a_generator_a_one_to_many_device_and_a_flexible_load_imports_no_qp_solver() -> None:
    result = json.loads(_run(CLOSED_FORM))
    assert result == {"methods": ["closed form"] * 3, "loaded": []}


async def test_a_family_that_cannot_make_the_devices_role_is_answered_with_a_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    family = registry.family_of_kind("admm.request")
    assert family is not None

    def broken(device: object, context: object) -> None:
        raise ValueError("no role today")

    failing = dataclasses.replace(family, role=broken)
    monkeypatch.setattr(device_agent, "family_of_kind", lambda kind: failing if kind.startswith("admm.") else None)
    agent = DeviceAgent(Generator(id="g", kind="generator", p_max=10))
    async with InProcNetwork() as network:
        network.add(agent)
        asker = network.add(_Asker())
        for _ in range(2):  # asked again, refused again: the agent keeps serving
            answer = await asker.request(AdmmRequest(round=0, rho=1.0, reference=np.zeros(2)), "g", timeout=1.0)
            assert isinstance(answer, Refusal)
            assert "no role today" in answer.reason
    assert agent.failures == 2
    assert agent.roles == {}


class _Asker:
    id = "asker"

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        return None
