"""COHDA building blocks: deciders, schedule generators, system configuration, merge rules, drafts, messages."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent import registry
from edge_agent.algorithms.cohda import (
    Choice,
    CohdaCandidate,
    CohdaOffers,
    CohdaStart,
    CohdaTarget,
    CohdaUpdate,
    EnumerationDecider,
    LocalSearchDecider,
    Rated,
    ScheduleEntries,
    SystemConfig,
    Target,
    WorkingMemory,
    battery_schedules,
    entries_per_message,
    merge_candidates,
    shifted_profiles,
    weighted_l1,
    weighted_squares,
)
from edge_agent.algorithms.cohda.draft import MoveLog
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.messages import Envelope

pytestmark = pytest.mark.timeout(30)

TARGET = Target.of([3.0, 3.0, 3.0])


# -- deciders ------------------------------------------------------------------------------------
def test_enumeration_rates_every_schedule_and_proposes_the_best() -> None:
    decider = EnumerationDecider("a", [[0, 0, 0], [1, 1, 1], [3, 0, 3]])
    assert decider.initial().same_as(Choice(decider.schedules[0], 0))
    assert decider.initial().index == 0
    proposal = decider.propose(np.array([2.0, 2.0, 2.0]), decider.initial(), TARGET, weighted_l1)
    assert proposal.index == 1
    ratings, indices = decider.responses(np.array([[2.0, 2.0, 2.0], [0.0, 3.0, 0.0]]), TARGET, weighted_l1)
    assert indices.tolist() == [1, 2]
    assert ratings.tolist() == [0.0, 0.0]
    alternatives = decider.alternatives(np.zeros(3), decider.initial(), 2, TARGET, weighted_l1)
    assert [c.index for c in alternatives] == [2, 1]


def test_enumeration_filters_unacceptable_schedules_but_reports_original_indices() -> None:
    decider = EnumerationDecider("a", [[9, 9, 9], [1, 1, 1], [3, 3, 3]], initial_index=1,
                                 acceptable=lambda s: float(s.max()) < 5)
    assert decider.propose(np.zeros(3), decider.initial(), TARGET, weighted_l1).index == 2
    with pytest.raises(ConfigError, match="none of its 3 schedules is acceptable"):
        EnumerationDecider("a", [[9, 9, 9]] * 3, acceptable=lambda s: False)


@pytest.mark.parametrize(
    ("schedules", "message"),
    [
        ([], "at least one schedule"),
        ([[]], "at least one schedule"),
        ([[1, 2], [1]], "equal-length lists"),
        ([[1, float("nan")]], r"schedules\[0\] contains NaN"),
        ([[1, 2], [1, float("inf")]], r"schedules\[1\] contains NaN or infinity"),
    ],
)
def test_enumeration_rejects_bad_schedule_sets(schedules: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EnumerationDecider("a", schedules)


def test_local_search_respects_corridors_whatever_the_others_do() -> None:
    rng = np.random.default_rng(1)
    lower, upper = np.array([-1.0, 0.0, 2.0, 0.0]), np.array([1.0, 0.5, 2.0, 4.0])
    decider = LocalSearchDecider("ls", lower, upper, rng)
    target = Target.of([0.0, 0.0, 0.0, 0.0])
    current = decider.initial()
    for _ in range(50):
        others = rng.uniform(-10, 10, 4)
        current = decider.propose(others, current, target, weighted_l1)
        assert (current.schedule >= lower).all()
        assert (current.schedule <= upper).all()


def test_local_search_keeps_the_best_sample_and_moves_both_ways() -> None:
    lower, upper = np.zeros(3), np.full(3, 10.0)
    decider = LocalSearchDecider("ls", lower, upper, np.random.default_rng(0), initial=[5.0, 5.0, 5.0])
    target = Target.of([2.0, 8.0, 5.0])
    proposal = decider.propose(np.zeros(3), decider.initial(), target, weighted_l1)
    # the slot wanting less went down, the one wanting more went up, the one already right stayed
    assert proposal.schedule[0] == pytest.approx(2.0, abs=0.05)
    assert proposal.schedule[1] == pytest.approx(8.0, abs=0.05)
    assert proposal.schedule[2] == pytest.approx(5.0, abs=0.05)
    before = decider.score(decider.initial().schedule[None, :], np.zeros(3), target, weighted_l1)[0]
    after = decider.score(proposal.schedule[None, :], np.zeros(3), target, weighted_l1)[0]
    assert after > before
    # nothing better to find: the current schedule comes back unchanged
    assert decider.propose(np.zeros(3), Choice(np.array([2.0, 8.0, 5.0])), target, weighted_l1).schedule.tolist() \
        == [2.0, 8.0, 5.0]


def test_local_search_weighs_local_performance_against_the_convergence_force() -> None:
    def thrifty(schedules: np.ndarray) -> np.ndarray:
        return np.asarray(-10.0 * schedules.sum(axis=1), dtype=np.float64)  # strongly prefers using little

    decider = LocalSearchDecider("ls", np.zeros(2), np.full(2, 4.0), np.random.default_rng(0),
                                 initial=[2.0, 2.0], local_performance=thrifty)
    proposal = decider.propose(np.zeros(2), decider.initial(), Target.of([4.0, 4.0]), weighted_l1)
    assert proposal.schedule.tolist() == [0.0, 0.0]


def test_the_participant_records_the_new_schedule_the_local_search_found() -> None:
    decider = LocalSearchDecider("ls", np.zeros(2), np.full(2, 4.0), np.random.default_rng(0))
    memory = WorkingMemory("ls", decider, weighted_l1)
    memory.learn_target(CohdaTarget(values=np.array([1.0, 3.0]), weights=np.ones(2)), "start")
    memory.decide()
    chosen = memory.choice().schedule
    assert chosen == pytest.approx([1.0, 3.0], abs=0.05)
    assert memory.config.row("ls") == pytest.approx(chosen)  # the configuration holds the new schedule


@pytest.mark.parametrize(
    ("lower", "upper", "options", "message"),
    [
        ([0, 1], [1, 0], {}, "corridor of slot 1 is empty"),
        ([0, 0], [1, 1], {"initial": [0, 2]}, "initial schedule leaves its corridors"),
        ([0, 0], [1, 1], {"initial": [0]}, "initial has 1 slots"),
        ([0, float("nan")], [1, 1], {}, "NaN"),
        ([0, 0], [1, 1], {"max_iterations": 0}, "max_iterations >= 1"),
    ],
)
def test_local_search_rejects_bad_corridors(lower: list[float], upper: list[float], options: dict[str, object],
                                           message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LocalSearchDecider("ls", lower, upper, np.random.default_rng(0), **options)  # type: ignore[arg-type]


# -- device schedule generators --------------------------------------------------------------------
def test_shifted_profiles_place_the_load_at_every_allowed_start() -> None:
    rows = shifted_profiles([2, 1], horizon=5, earliest_start=1)
    assert rows.tolist() == [[0, -2, -1, 0, 0], [0, 0, -2, -1, 0], [0, 0, 0, -2, -1]]
    with pytest.raises(ConfigError, match="no placement fits"):
        shifted_profiles([1, 1, 1], horizon=2)
    with pytest.raises(ConfigError, match=">= 0"):
        shifted_profiles([1, -1], horizon=4)


def test_battery_schedules_are_feasible_and_reproducible() -> None:
    rows = battery_schedules(24, 50, np.random.default_rng(3), power_max=2, energy_max=5, energy_initial=1)
    assert rows.shape == (50, 24)
    assert (rows[0] == 0).all()
    assert (np.abs(rows) <= 2 + 1e-12).all()
    energy = 1 - np.cumsum(rows, axis=1)
    assert (energy >= -1e-9).all()
    assert (energy <= 5 + 1e-9).all()
    again = battery_schedules(24, 50, np.random.default_rng(3), power_max=2, energy_max=5, energy_initial=1)
    assert np.array_equal(rows, again)
    with pytest.raises(ConfigError, match="energy_initial <= energy_max"):
        battery_schedules(4, 2, np.random.default_rng(0), power_max=1, energy_max=1, energy_initial=2)


# -- system configuration and merge rules ----------------------------------------------------------
def entries(ids: tuple[str, ...], counters: tuple[int, ...], rows: list[list[float]]) -> ScheduleEntries:
    return ScheduleEntries(ids=ids, counters=counters, rows=np.array(rows, dtype=float))


def test_configuration_keeps_the_higher_counter_and_an_exact_running_sum() -> None:
    config = SystemConfig(2)
    assert config.merge(entries(("a", "b"), (2, 1), [[1, 1], [2, 2]]), me="me", sender="x")
    assert not config.merge(entries(("a",), (1,), [[9, 9]]), me="me", sender="x")  # older: ignored
    assert config.merge(entries(("a",), (3,), [[4, 0]]), me="me", sender="x")
    assert config.counter("a") == 3
    assert config.counter("nobody") == 0
    assert config.total.tolist() == [6.0, 2.0]
    rng = np.random.default_rng(0)
    for k in range(500):
        config.set("b", k + 2, rng.uniform(-1e6, 1e6, 2))
    assert np.allclose(config.total, config.row("a") + config.row("b"), rtol=0, atol=1e-6)
    assert config.ids == ("a", "b")


def test_configuration_detects_a_second_participant_with_our_id() -> None:
    config = SystemConfig(1)
    config.set("me", 1, np.array([0.0]))
    with pytest.raises(ProtocolError, match="two participants use the same id"):
        config.merge(entries(("me",), (5,), [[1]]), me="me", sender="impostor")


def rated(owner: str, versions: dict[str, int], aggregate: list[float]) -> Rated:
    ids = tuple(sorted(versions))
    return Rated.build(owner=owner, ids=ids, counters=tuple(versions[p] for p in ids),
                       aggregate=np.array(aggregate), performance=weighted_l1, target=TARGET)


def test_candidate_merge_rules() -> None:
    config = SystemConfig(3)
    config.set("c", 4, np.array([1.0, 1.0, 1.0]))
    small = rated("a", {"a": 1}, [1, 1, 1])
    big = rated("b", {"a": 1, "b": 1}, [5, 5, 5])
    # a strict superset wins whatever its performance
    assert merge_candidates(small, big, me="a", config=config, performance=weighted_l1, target=TARGET) is big
    assert merge_candidates(big, small, me="b", config=config, performance=weighted_l1, target=TARGET) is big
    # equal members: better performance, then the lower owner id
    better = rated("z", {"a": 2, "b": 1}, [3, 3, 4])
    assert merge_candidates(big, better, me="a", config=config, performance=weighted_l1, target=TARGET) is better
    twin = rated("a", {"a": 2, "b": 1}, [3, 3, 4])
    assert merge_candidates(better, twin, me="b", config=config, performance=weighted_l1, target=TARGET) is twin
    assert merge_candidates(twin, better, me="b", config=config, performance=weighted_l1, target=TARGET) is twin
    # neither contains the other: the extra members come in with our configuration's rows
    other = rated("c", {"c": 4}, [1, 1, 1])
    merged = merge_candidates(small, other, me="a", config=config, performance=weighted_l1, target=TARGET)
    assert merged.wire.ids == ("a", "c")
    assert merged.wire.counters == (1, 4)
    assert merged.wire.aggregate.tolist() == [2.0, 2.0, 2.0]
    assert merged.wire.owner == "a"
    # ... and members our configuration does not know yet are left out
    unknown = rated("d", {"d": 1}, [1, 1, 1])
    assert merge_candidates(small, unknown, me="a", config=config, performance=weighted_l1, target=TARGET) is small


def test_a_received_candidates_moves_are_applied_when_they_fit() -> None:
    decider = EnumerationDecider("a", [[0, 0, 0], [1, 1, 1]])
    memory = WorkingMemory("a", decider, weighted_l1, relay=False)
    memory.learn_target(TARGET.to_wire(), "start")
    memory.config.merge(entries(("b", "c"), (1, 1), [[0, 0, 0], [0, 0, 0]]), me="a", sender="x")
    base = rated("b", {"a": 1, "b": 1, "c": 1}, [0, 0, 0])
    assert memory.perceive(CohdaUpdate(candidate=base.wire), "b")
    # b improved it by moving itself, c by moving itself: both moves fit and combine
    for mover in ("b", "c"):
        log = MoveLog()
        log.add(mover, 1, 2, np.array([1.0, 1.0, 1.0]))
        moved = CohdaCandidate(owner=mover, ids=base.wire.ids,
                               counters=tuple(2 if p == mover else 1 for p in base.wire.ids),
                               aggregate=np.array([1.0, 1.0, 1.0]), moves=log.to_wire())
        assert memory.perceive(CohdaUpdate(candidate=moved), mover)
    assert memory.candidate is not None
    assert memory.candidate.wire.counters == (1, 2, 2)
    assert memory.candidate.wire.aggregate.tolist() == [2.0, 2.0, 2.0]
    assert memory.candidate.wire.owner == "a"


def test_performance_functions_rate_batches_and_the_canonical_rating_agrees() -> None:
    batch = np.array([[3.0, 3.0, 3.0], [1.0, 3.0, 5.0]])
    assert weighted_l1(batch, TARGET).tolist() == [0.0, -4.0]
    assert weighted_squares(batch, TARGET).tolist() == [0.0, -8.0]
    weighted = Target.of([0.0, 0.0], [2.0, 0.0])
    assert weighted_l1(np.array([[1.0, 7.0]]), weighted).tolist() == [-2.0]


@pytest.mark.parametrize(
    ("values", "weights", "message"),
    [([], None, "non-empty"), ([1.0, float("nan")], None, "finite"), ([1.0], [1.0, 2.0], "one weight per slot"),
     ([1.0], [-1.0], ">= 0")],
)
def test_bad_targets_are_rejected(values: list[float], weights: list[float] | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Target.of(values, weights)


# -- messages ----------------------------------------------------------------------------------------
def encoded(body: CohdaUpdate | CohdaStart) -> bytes:
    envelope = Envelope(id="0123abcd-17", sender="p001", receiver="*", seq=17, run="run", body=body)
    payload = registry.codec().encode(envelope)
    assert registry.codec().decode(payload).body.kind == body.kind
    return payload


def test_updates_stay_far_below_the_mqtt_limit_for_100_participants_and_96_slots() -> None:
    n, horizon = 100, 96
    rng = np.random.default_rng(0)
    ids = tuple(f"p{i:03d}" for i in range(n))
    rows = rng.uniform(0, 10, (n, horizon))
    log = MoveLog()
    for i in range(16):
        log.add(ids[i], 3, 4, rows[i])
    candidate = CohdaCandidate(owner="p001", ids=ids, counters=tuple(range(1, n + 1)), aggregate=rows.sum(0),
                               moves=log.to_wire())
    target = CohdaTarget(values=rows.sum(0), weights=np.ones(horizon))
    offers = CohdaOffers(base=3, versions=(7, 8, 9), deltas=rows[:3])
    typical = CohdaUpdate(candidate=candidate, entries=entries(ids[:1], (5,), rows[:1].tolist()), offers=offers)
    largest = CohdaUpdate(target=target, candidate=candidate, offers=offers,
                          entries=ScheduleEntries(ids=ids, counters=tuple(range(1, n + 1)), rows=rows))
    assert len(encoded(typical)) < 25_000
    assert len(encoded(largest)) < 135_000 < 256 * 1024
    assert entries_per_message(horizon) * (4 * 8 * horizon // 3 + 80) <= 128 * 1024


def test_a_decoded_update_is_equivalent_and_rejects_malformed_parts() -> None:
    candidate = CohdaCandidate(owner="a", ids=("a", "b"), counters=(1, 2), aggregate=np.array([1.0, 2.0]))
    back = registry.codec().decode(encoded(CohdaUpdate(candidate=candidate)))
    assert isinstance(back.body, CohdaUpdate)
    assert back.body.candidate is not None
    assert back.body.candidate.counter_of("b") == 2
    assert back.body.candidate.aggregate.tolist() == [1.0, 2.0]
    with pytest.raises(ValidationError, match="2 ids but 1 counters"):
        CohdaCandidate(owner="a", ids=("a", "b"), counters=(1,), aggregate=np.array([1.0]))
    with pytest.raises(ValidationError, match="ids repeat"):
        ScheduleEntries(ids=("a", "a"), counters=(1, 1), rows=np.zeros((2, 1)))
    with pytest.raises(ValidationError, match="NaN or infinite"):
        CohdaTarget(values=np.array([1.0, np.nan]), weights=np.ones(2))
    with pytest.raises(ValidationError, match="weights has 1 entries"):
        CohdaTarget(values=np.array([1.0, 2.0]), weights=np.ones(1))
    with pytest.raises(ValidationError, match="counters start at 1"):
        CohdaCandidate(owner="a", ids=("a",), counters=(0,), aggregate=np.array([1.0]))
