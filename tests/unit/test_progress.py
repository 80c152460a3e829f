"""Run progress on the wire (``runtime/progress.py``) and the coordinator service publishing it."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from edge_agent.algorithms.admm.job import AdmmJob, AdmmJobResult, AdmmJobSpec
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.carrier.topics import Route, Topics
from edge_agent.device_agent import DeviceAgent
from edge_agent.devices import Generator
from edge_agent.errors import ConfigError
from edge_agent.ids import ID_PATTERN
from edge_agent.messages import Envelope, Message
from edge_agent.runtime.progress import (
    POINTS_PER_RECORD,
    ProgressPublisher,
    RetainedRuns,
    RunProgress,
    RunResult,
    history_points,
    run_id,
)
from edge_agent.runtime.services import CoordinatorService


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def publisher(sent: list[RunProgress], clock: Clock, interval: float = 0.25) -> ProgressPublisher:
    return ProgressPublisher(sent.append, run="job-1", job="job", algorithm="admm-sharing", participants=3,
                             max_iterations=100, now=clock, min_interval_s=interval)


def test_records_are_rate_bounded_and_carry_every_stretch_of_the_run() -> None:
    sent: list[RunProgress] = []
    clock = Clock()
    progress = publisher(sent, clock)
    progress.start()
    for k in range(100):  # 100 rounds in 1 s: at most one record per 0.25 s
        clock.now += 0.01
        progress.round(k, primal=1.0 / (k + 1), dual=0.5 / (k + 1), present=3 if k < 50 else 2)
    progress.finish("converged", 100)
    assert [r.status for r in sent] == ["running"] * (len(sent) - 1) + ["converged"]
    assert len(sent) <= 1 + 1 + 4 + 1  # start, first round, one per 0.25 s, the last
    rounds = [p.round for r in sent for p in r.points]
    assert rounds == list(range(100))  # nothing lost, nothing repeated
    assert sent[-1].iteration == 100
    assert sent[-1].present == 2
    assert sent[-1].elapsed_s == pytest.approx(1.0)


def test_a_long_stretch_is_thinned_to_the_record_limit_keeping_its_last_round() -> None:
    sent: list[RunProgress] = []
    clock = Clock()
    progress = publisher(sent, clock, interval=60.0)
    progress.round(0, primal=1.0)
    for k in range(1, 5000):
        progress.round(k, primal=1.0)
    progress.finish("max_iterations")
    assert len(sent[-1].points) <= POINTS_PER_RECORD
    assert sent[-1].points[-1].round == 4999


def test_a_non_finite_residual_is_not_put_on_the_wire() -> None:
    sent: list[RunProgress] = []
    progress = publisher(sent, Clock())
    progress.round(0, primal=float("inf"))
    progress.finish("diverged")
    assert sent[-1].points == []
    with pytest.raises(ValidationError):
        RunProgress.model_validate({**sent[-1].model_dump(), "elapsed_s": float("nan")})


@pytest.mark.parametrize("job", ["dispatch", "a/b+c#", "_x", "é" * 80, ""])
def test_a_run_id_is_one_topic_level_whatever_the_job_name(job: str) -> None:
    run = run_id(job, token="abc")
    assert ID_PATTERN.fullmatch(run)
    assert Topics("edge").parse(Topics("edge").run("coordinator", run)) == Route("run", "coordinator", run)


def test_the_new_topics_parse_and_a_bad_run_id_is_refused() -> None:
    topics = Topics("site/edge")
    assert topics.parse("site/edge/coordinator/progress") == Route("progress", "coordinator")
    assert topics.parse("site/edge/gen-1/device") == Route("device", "gen-1")
    assert topics.parse("site/edge/coordinator/runs/+") is None
    with pytest.raises(ConfigError, match="run id"):
        topics.run("coordinator", "a/b")


def test_retained_runs_keep_a_bounded_history() -> None:
    kept = RetainedRuns(keep=2)
    assert kept.add("a") == []
    assert kept.add("b") == []
    assert kept.add("c") == ["a"]
    with pytest.raises(ValueError, match="keep"):
        RetainedRuns(keep=0)


class Operator:
    id = "operator"

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        return None


async def test_the_coordinator_service_publishes_progress_and_keeps_the_run() -> None:
    sent: list[RunProgress] = []
    kept: dict[str, bytes] = {}

    async def publish_run(run: str, payload: bytes) -> None:
        kept[run] = payload

    service = CoordinatorService(lambda: ["g0", "g1"], progress=sent.append, publish_run=publish_run,
                                 progress_interval_s=0.0)
    job = AdmmJobSpec(algorithm="admm-sharing", name="two", target=[30.0], priorities=[1000.0])
    async with InProcNetwork() as network:
        for i, cost in enumerate((1.0, 2.0)):
            network.add(DeviceAgent(Generator(id=f"g{i}", kind="generator", p_max=40, cost_linear=cost,
                                              cost_quadratic=0.1)))
        network.add(service)
        operator = network.add(Operator())
        answer = await operator.request(AdmmJob(job=job, issued_at=time.time()), "coordinator", timeout=30)
    assert isinstance(answer, AdmmJobResult)
    assert answer.report is not None
    iterations = answer.report["iterations"]
    assert sent[0].status == "running"
    assert sent[-1].status == answer.report["status"] == "converged"
    assert [p.round for r in sent for p in r.points] == list(range(iterations))  # type: ignore[arg-type]
    assert {r.run for r in sent} == set(kept)
    assert AdmmJobResult.model_validate_json(next(iter(kept.values()))).report == answer.report


def test_a_reports_residual_history_becomes_points_and_other_histories_none() -> None:
    admm = {"history": [{"round": k, "r_primal": 1.0 / (k + 1), "r_dual": 0.5, "rho": 1.0} for k in range(200)]}
    points = history_points(admm)
    assert len(points) == POINTS_PER_RECORD
    assert points[-1].round == 199
    assert history_points({"history": {"iteration": [0, 1], "lam": {}}}) == []  # consensus: not residuals
    assert history_points({"history": [{"round": 0, "r_primal": "x"}]}) == []
    assert history_points({}) == []


def test_a_run_result_reads_the_coordinators_job_result_too() -> None:
    answer = AdmmJobResult(job="j", report={"status": "converged"})
    assert RunResult.model_validate_json(answer.model_dump_json()).report == {"status": "converged"}
    with pytest.raises(ValidationError):
        RunResult.model_validate({"kind": "other", "job": "j"})
