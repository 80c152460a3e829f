"""Launching a consensus run among device agents and watching it to its end, from outside the rounds.

The launcher takes no part in the rounds and does not listen to them. For one run it

1. sends each participant its :class:`~.job.ConsensusJoin` as a request and waits for every
   :class:`~.job.ConsensusJoined` (each sent once the device's own subscriptions hold), so nobody can
   publish round 0 before everyone listens;
2. sends :class:`~.messages.ConsensusStart` to every participant;
3. waits for the end. A participant knows the run is over when its final message goes out (see
   :mod:`~.rounds`); it then tells the launcher, unasked, with a :class:`~.job.ConsensusOutcome`. Meanwhile
   the launcher asks the participants still running where they are (:class:`~.job.ConsensusCollect`) every
   ``poll_s``: an answer that says finished counts as the notice (which may have been lost), and if no
   unfinished participant's round has moved for ``stall_s`` the run has stalled: :class:`RunTimeout` naming
   every unfinished participant, those that did not answer, and the round each waits in. The same after
   ``run_s`` in total;
4. collects every participant's :class:`~.job.ConsensusOutcome` (final state, ``x`` and ``lam`` at the
   history's rounds, message counts), and finally sends :class:`~.job.ConsensusLeave` to all, on success
   and on failure, so the devices drop the run and its subscriptions.

Why it does not subscribe to the gossip: it would receive (and acknowledge, at QoS 1) every round message of
every participant, a third of all the traffic of the 5-generator run, for no information the notices and
the polls do not give; at N = 50 it would also have to keep up with 50 messages a round or lose the final
ones to the broker's queue limit.

Only the :class:`~edge_agent.carrier.base.Carrier` interface is used: the same launcher runs over MQTT
(``edge_agent.algorithms.consensus.plan``) and in process (tests).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog

from edge_agent.algorithms.consensus.job import (
    ConsensusCollect,
    ConsensusFailure,
    ConsensusJoin,
    ConsensusJoined,
    ConsensusLeave,
    ConsensusOutcome,
    sample_rounds,
)
from edge_agent.algorithms.consensus.messages import ConsensusStart, StopReason
from edge_agent.algorithms.gossip_runs import ask
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.clock import Clock
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError, RunTimeout
from edge_agent.messages import Envelope, Message

__all__ = ["ConsensusLauncher", "LaunchDeadlines", "LaunchResult"]

log = structlog.get_logger("edge_agent.consensus")


@dataclass(frozen=True)
class LaunchDeadlines:
    """``join_s``: every participant acknowledges its join; ``poll_s``: how often the participants still
    running are asked where they are; ``stall_s``: how long no unfinished participant may advance a round
    (a round takes milliseconds) before the run counts as stalled; ``answer_s``: a participant's answer to
    a poll or to the final collect; ``run_s``: the whole run."""

    join_s: float = 15.0
    poll_s: float = 1.0
    stall_s: float = 5.0
    answer_s: float = 5.0
    run_s: float = 3600.0

    def __post_init__(self) -> None:
        for name in ("join_s", "poll_s", "stall_s", "answer_s", "run_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class LaunchResult:
    run: str
    status: StopReason
    iterations: int  # rounds computed by the participant that went furthest
    rounds: list[int]  # the rounds of the outcomes' histories
    outcomes: dict[str, ConsensusOutcome]  # in the order of the joins
    control: int  # messages of the launcher's dialogue: joins, starts, notices, polls, collects, leaves, answers
    polls: int  # participants asked where they are while the run went on

    @property
    def deliveries(self) -> int:
        """Round messages delivered to the participants (what the in-process runs count)."""
        return sum(sum(o.received.values()) for o in self.outcomes.values())


class _Watch:
    """What the launcher knows of one run: each participant's round, and who finished."""

    def __init__(self, participants: Sequence[str], clock: Clock) -> None:
        self.clock = clock
        self.round = dict.fromkeys(participants, 0)  # the round each participant computes next
        self.final: dict[str, tuple[int, StopReason]] = {}
        self.notices = 0
        self._done: asyncio.Future[None] | None = None

    def unfinished(self) -> list[str]:
        return [pid for pid in self.round if pid not in self.final]

    def finish(self, sender: str, round: int, reason: StopReason) -> None:
        if sender not in self.round:
            return
        self.round[sender] = max(self.round[sender], round)
        self.final.setdefault(sender, (round, reason))
        if len(self.final) == len(self.round) and self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def until_done(self, seconds: float) -> None:
        """Return when every participant finished, or after ``seconds``."""
        if not self.unfinished():
            return
        done = self._done = asyncio.get_running_loop().create_future()
        timer = self.clock.call_later(seconds, functools.partial(_resolve, done))
        try:
            await done
        finally:
            timer.cancel()
            self._done = None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ConsensusLauncher:
    """A participant that starts consensus runs among device agents and watches them (see the module)."""

    def __init__(self, id: str) -> None:
        self._id = id
        self._watches: dict[str, _Watch] = {}

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, ConsensusOutcome):  # a participant's notice that it finished
            watch = self._watches.get(message.run)
            if watch is not None and message.finished and message.stop_reason is not None:
                watch.notices += 1
                watch.finish(envelope.sender, message.round, message.stop_reason)
            return
        log.warning("consensus.launcher_unexpected", kind=message.kind, sender=envelope.sender)

    async def run(
        self,
        carrier: Carrier,
        run: str,
        joins: Mapping[str, ConsensusJoin],
        *,
        history_points: int = 1000,
        deadlines: LaunchDeadlines | None = None,
    ) -> LaunchResult:
        """Run ``run`` among ``joins``' participants (their join messages, keyed by participant id).

        Raises :class:`RunTimeout` (silent or stalled participants, see the module), :class:`ConfigError`
        (a device cannot take part) or :class:`ProtocolError`.
        """
        deadlines = deadlines or LaunchDeadlines()
        ids = list(joins)
        if not ids:
            raise ConfigError("a consensus run needs at least one participant")
        if run in self._watches:
            raise ConfigError(f"run {run!r} is already under way")
        if any(join.run != run for join in joins.values()):
            raise ConfigError(f"every join message must name run {run!r}")
        view = RunCarrier(carrier, run)
        watch = self._watches[run] = _Watch(ids, carrier.clock)
        control = polls = 0
        try:
            await self._join_all(view, run, joins, deadlines.join_s)
            control += 2 * len(ids)
            for pid in ids:
                view.send(ConsensusStart(), pid)
            control += len(ids)
            log.info("consensus.run_started", run=run, participants=len(ids))
            polls = await self._watch(view, run, watch, deadlines)
            iterations = max(round for round, _ in watch.final.values())
            rounds = sample_rounds(iterations, history_points)
            outcomes = await self._collect(view, run, ids, rounds, deadlines.answer_s)
            control += 2 * len(ids)
        finally:
            del self._watches[run]
            control += self._leave(view, run, ids) + watch.notices + 2 * polls
        reasons = {outcome.stop_reason for outcome in outcomes.values()}
        log.info("consensus.run_finished", run=run, iterations=iterations, reasons=sorted(map(str, reasons)))
        return LaunchResult(
            run=run,
            status="diverged" if "diverged" in reasons
            else ("converged" if reasons == {"converged"} else "max_iterations"),
            iterations=iterations,
            rounds=rounds,
            outcomes=outcomes,
            control=control,
            polls=polls,
        )

    # -- the steps -----------------------------------------------------------------------------------
    async def _join_all(self, view: Carrier, run: str, joins: Mapping[str, ConsensusJoin], within_s: float) -> None:
        answers = await ask(view, joins, within_s)
        silent = [pid for pid, answer in answers.items() if answer is None]
        refused = {pid: answer.reason for pid, answer in answers.items() if isinstance(answer, ConsensusFailure)}
        for pid, answer in answers.items():
            if answer is not None and not isinstance(answer, ConsensusJoined | ConsensusFailure):
                raise ProtocolError(f"expected consensus.joined, got {answer.kind!r}", sender=pid)
        if refused:
            detail = "; ".join(f"{pid}: {reason}" for pid, reason in refused.items())
            raise ConfigError(f"run {run!r}: {len(refused)} participant(s) cannot take part: {detail}")
        if silent:
            raise RunTimeout(
                f"run {run!r}: no answer to the join within {within_s:g} s from {', '.join(silent)}",
                participants=tuple(silent),
            )

    async def _watch(self, view: Carrier, run: str, watch: _Watch, deadlines: LaunchDeadlines) -> int:
        """Wait until everyone finished; poll the others. Returns the number of participants polled."""
        clock = view.clock
        started = moved_at = clock.now()
        polled = 0
        while watch.unfinished():
            now = clock.now()
            if now - started >= deadlines.run_s:
                raise self._stalled(run, watch, {}, f"the run did not end within {deadlines.run_s:g} s")
            await watch.until_done(min(deadlines.poll_s, started + deadlines.run_s - now))
            unfinished = watch.unfinished()
            if not unfinished:
                break
            answers = await ask(view, {pid: ConsensusCollect(run=run) for pid in unfinished}, deadlines.answer_s)
            polled += len(unfinished)
            for pid, answer in answers.items():
                if isinstance(answer, ConsensusOutcome):
                    if answer.round > watch.round[pid]:
                        watch.round[pid] = answer.round
                        moved_at = clock.now()
                    if answer.finished and answer.stop_reason is not None:
                        watch.finish(pid, answer.round, answer.stop_reason)
            if watch.unfinished() and clock.now() - moved_at >= deadlines.stall_s:
                raise self._stalled(run, watch, answers, f"no round advanced for {deadlines.stall_s:g} s")
        return polled

    @staticmethod
    def _stalled(run: str, watch: _Watch, answers: Mapping[str, Message | None], why: str) -> RunTimeout:
        unfinished = watch.unfinished()
        silent = [pid for pid in unfinished if pid in answers and answers[pid] is None]
        failed = {pid: a.reason for pid, a in answers.items() if isinstance(a, ConsensusFailure)}
        parts = []
        if silent:
            parts.append(f"no answer from {', '.join(silent)} (process or connection gone?)")
        parts += [f"{pid} failed: {reason}" for pid, reason in failed.items()]
        waiting = [pid for pid in unfinished if pid not in silent and pid not in failed]
        if waiting:
            parts.append("waiting for their in-neighbours: " + ", ".join(
                f"{pid} in round {watch.round[pid]}" for pid in waiting))
        return RunTimeout(
            f"consensus run {run!r} stalled ({why}); {len(unfinished)} of {len(watch.round)} participants did "
            f"not finish: {'; '.join(parts)}",
            participants=tuple(unfinished),
            round=min(watch.round[pid] for pid in unfinished),
        )

    async def _collect(
        self, view: Carrier, run: str, ids: Sequence[str], rounds: Sequence[int], within_s: float
    ) -> dict[str, ConsensusOutcome]:
        request = ConsensusCollect(run=run, rounds=tuple(rounds))
        answers = await ask(view, dict.fromkeys(ids, request), within_s)
        outcomes: dict[str, ConsensusOutcome] = {}
        problems: list[str] = []
        for pid, answer in answers.items():
            if isinstance(answer, ConsensusOutcome) and answer.finished:
                outcomes[pid] = answer
            elif answer is None:
                problems.append(f"{pid} did not answer within {within_s:g} s")
            elif isinstance(answer, ConsensusFailure):
                problems.append(f"{pid}: {answer.reason}")
            else:
                problems.append(f"{pid} answered {answer.kind!r} (finished: {getattr(answer, 'finished', '?')})")
        if problems:
            missing = tuple(pid for pid in ids if pid not in outcomes)
            raise RunTimeout(f"run {run!r} ended but its outcome is incomplete: {'; '.join(problems)}",
                             participants=missing)
        return outcomes

    @staticmethod
    def _leave(view: Carrier, run: str, ids: Sequence[str]) -> int:
        sent = 0
        try:
            for pid in ids:
                view.send(ConsensusLeave(run=run), pid)
                sent += 1
        except EdgeAgentError as error:  # the run's result (or error) matters more than the goodbye
            log.warning("consensus.leave_failed", run=run, error=str(error))
        return sent

