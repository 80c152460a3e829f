"""The in-process network: request/reply, timeouts on the injected clock, gossip, quiescence, simulation knobs."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmRequest
from edge_agent.carrier import Carrier, InProcNetwork, LinkModel
from edge_agent.clock import ManualClock
from edge_agent.errors import ConfigError, RunTimeout, SolverError
from edge_agent.messages import Envelope, Message


@dataclass
class Echo:
    """Answers every request with its reference; remembers what it saw; can stay silent or fail."""

    id: str
    silent: bool = False
    fail: bool = False
    seen: list[int] = field(default_factory=list)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        assert isinstance(message, AdmmRequest)
        self.seen.append(message.round)
        if self.fail:
            raise SolverError("boom", participant=self.id)
        if not self.silent:
            carrier.reply(AdmmAnswer(round=message.round, x=message.reference), envelope)


def _request(k: int) -> AdmmRequest:
    return AdmmRequest(round=k, rho=1.0, reference=np.array([float(k)]))


async def test_request_resolves_with_the_reply_body() -> None:
    async with InProcNetwork(codec=registry.codec()) as net:
        net.add(Echo("a"))
        me = net.add(Echo("me"))
        answer = await me.request(_request(7), "a", timeout=5)
    assert isinstance(answer, AdmmAnswer)
    assert answer.round == 7
    assert net.stats.sent == 2
    assert net.stats.by_kind == {"admm.request": 1, "admm.answer": 1}


async def test_answered_and_timed_out_requests_leave_nothing_for_the_cyclic_collector() -> None:
    """A request is freed by reference counting alone: reference cycles per request (a closure that named
    itself once did) made the cyclic collector the largest cost of a 1,000-device ADMM round."""
    clock = ManualClock()
    async with InProcNetwork(clock=clock, codec=registry.codec()) as net:
        net.add(Echo("a"))
        net.add(Echo("quiet", silent=True))
        me = net.add(Echo("me"))
        await me.request(_request(0), "a", timeout=5)  # warm up: the first request builds lasting state
        for _ in range(5):  # what earlier tests left (matplotlib's figures of the CLI tests) may take a few passes
            if gc.collect() == 0:
                break
        gc.disable()
        try:
            answered = await asyncio.gather(*(me.request(_request(k), "a", timeout=5) for k in range(200)))
            late = [me.request(_request(k), "quiet", timeout=5) for k in range(50)]
            await clock.advance(6)
            timed_out = await asyncio.gather(*late, return_exceptions=True)
            del late
            cycles = gc.collect()
        finally:
            gc.enable()
    assert len(answered) == 200
    assert all(isinstance(error, RunTimeout) for error in timed_out)
    assert cycles < 50, f"{cycles} objects in reference cycles after 250 requests"


async def test_request_times_out_on_the_injected_clock() -> None:
    clock = ManualClock()
    async with InProcNetwork(clock=clock) as net:
        net.add(Echo("quiet", silent=True))
        me = net.add(Echo("me"))
        future = me.request(_request(1), "quiet", timeout=10)
        await clock.advance(9.9)
        assert not future.done()
        await clock.advance(0.2)
        with pytest.raises(RunTimeout, match=r"'quiet' did not answer 'admm\.request' within 10 s") as info:
            await future
    assert info.value.participants == ("quiet",)


async def test_handler_error_ends_the_run_with_that_error() -> None:
    with pytest.raises(SolverError, match="participant 'bad': boom"):
        async with InProcNetwork() as net:
            net.add(Echo("bad", fail=True))
            me = net.add(Echo("me"))
            me.send(_request(0), "bad")
            await net.quiescent()


async def test_gossip_reaches_subscribers_only() -> None:
    async with InProcNetwork() as net:
        a, b, c = Echo("a"), Echo("b"), Echo("c")
        sender = net.add(a)
        net.add(b).subscribe(["a"])
        net.add(c)
        sender.publish(_request(3))
        await net.quiescent()
    assert (a.seen, b.seen, c.seen) == ([], [3], [])


async def test_quiescence_waits_for_delayed_messages() -> None:
    rng = np.random.default_rng(0)
    async with InProcNetwork(rng=rng, link=LinkModel(delay_s=0.02, jitter_s=0.01)) as net:
        target = Echo("t", silent=True)
        net.add(target)
        me = net.add(Echo("me"))
        for k in range(5):
            me.send(_request(k), "t")
        await net.quiescent()
        assert sorted(target.seen) == [0, 1, 2, 3, 4]


def _delivery_order(seed: int) -> list[int]:
    async def run() -> list[int]:
        async with InProcNetwork(rng=np.random.default_rng(seed), shuffle=True) as net:
            target = Echo("t", silent=True)
            net.add(target)
            me = net.add(Echo("me"))
            for k in range(30):
                me.send(_request(k), "t")
            await net.quiescent()
        return target.seen

    return asyncio.run(run())


def test_shuffle_is_seeded_and_actually_reorders() -> None:
    first, again, other = _delivery_order(1), _delivery_order(1), _delivery_order(2)
    assert first == again
    assert first != other
    assert sorted(first) == list(range(30))
    assert first != list(range(30))


async def test_loss_model_drops_about_the_configured_share() -> None:
    async with InProcNetwork(rng=np.random.default_rng(5), link=LinkModel(loss=0.3)) as net:
        target = Echo("t", silent=True)
        net.add(target)
        me = net.add(Echo("me"))
        for k in range(2000):
            me.send(_request(k), "t")
        await net.quiescent()
    assert net.stats.lost + len(target.seen) == 2000
    assert 0.26 < net.stats.lost / 2000 < 0.34


async def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="needs an rng"):
        InProcNetwork(shuffle=True)
    with pytest.raises(ConfigError, match="0 <= loss < 1"):
        LinkModel(loss=1.5)
    async with InProcNetwork() as net:
        net.add(Echo("a"))
        with pytest.raises(ConfigError, match="'a' is used twice"):
            net.add(Echo("a"))
        with pytest.raises(ConfigError, match="unknown participant 'ghost'"):
            net.carriers["a"].send(_request(0), "ghost")


async def test_a_request_that_cannot_be_sent_leaves_nothing_pending() -> None:
    clock = ManualClock()
    async with InProcNetwork(clock=clock) as net:
        me = net.add(Echo("me"))
        with pytest.raises(ConfigError, match="unknown participant 'ghost'"):
            me.request(_request(0), "ghost", timeout=0.05)
        assert me._pending == {}
        await clock.advance(0.1)  # past the deadline: the timer was cancelled, no "exception never retrieved"


async def test_long_runs_report_progress_every_few_seconds_of_the_clock() -> None:
    from structlog.testing import capture_logs

    clock = ManualClock()
    with capture_logs() as logs:
        async with InProcNetwork(clock=clock, run_id="r1") as net:
            target = Echo("t", silent=True)
            net.add(target)
            me = net.add(Echo("me"))
            for k in range(3):
                me.send(_request(k), "t")
                await net.quiescent()
                await clock.advance(3.0)
    progress = [entry for entry in logs if entry["event"] == "network.progress"]
    assert len(progress) == 1  # at 6 s, not at 0 s or 3 s
    assert progress[0]["run"] == "r1"
    assert progress[0]["delivered"] == 2


@dataclass
class Recorder:
    id: str
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


async def test_gossip_hands_every_subscriber_the_one_envelope_published_and_counts_each_delivery() -> None:
    async with InProcNetwork() as net:
        sender = net.add(Recorder("s"))
        ears = [Recorder(name) for name in ("c", "a", "b")]
        for ear in ears[:2]:
            net.add(ear).subscribe(["s"])
        sender.publish(_request(1))
        await net.quiescent()
        net.add(ears[2]).subscribe(["s"])  # a later subscriber hears the next gossip
        sender.publish(_request(2))
        await net.quiescent()
    first, second = ears[0].envelopes
    assert [len(ear.envelopes) for ear in ears] == [2, 2, 1]
    assert ears[1].envelopes[0] is first
    assert ears[1].envelopes[1] is second is ears[2].envelopes[0]
    assert (first.receiver, first.sender, second.body.round) == ("*", "s", 2)  # as published: nothing copied
    assert (net.stats.sent, net.stats.delivered, net.stats.by_kind) == (5, 5, {"admm.request": 5})


async def test_a_lossy_link_drops_gossip_per_receiver() -> None:
    async with InProcNetwork(rng=np.random.default_rng(3), link=LinkModel(loss=0.5)) as net:
        sender = net.add(Recorder("s"))
        ears = [Recorder(f"e{k}") for k in range(40)]
        for ear in ears:
            net.add(ear).subscribe(["s"])
        sender.publish(_request(1))
        await net.quiescent()
    heard = sum(len(ear.envelopes) for ear in ears)
    assert 0 < heard < 40
    assert (net.stats.lost, net.stats.sent) == (40 - heard, 40)
