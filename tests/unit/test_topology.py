"""Communication graphs: constructors, invariants, connectivity checks and the scenario-file specs."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from edge_agent import topology
from edge_agent.errors import ConfigError
from edge_agent.topology import Graph, TopologySpec

NODES = [f"n{i}" for i in range(8)]


def test_public_names() -> None:
    assert sorted(topology.__all__) == sorted([
        "CompleteTopology", "DirectedRingChordsTopology", "EdgesTopology", "Graph",
        "RandomStronglyConnectedTopology", "RingTopology", "SmallWorldTopology", "TopologySpec",
    ])


def test_directed_edges_mean_the_target_hears_the_source() -> None:
    graph = Graph.from_edges(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a"), ("a", "c")])
    assert graph.nodes == ("a", "b", "c")
    assert graph.in_neighbours("c") == ("a", "b")
    assert graph.out_neighbours("a") == ("b", "c")
    assert graph.in_neighbours("a") == ("c",)
    assert set(graph.edges) == {("a", "b"), ("b", "c"), ("c", "a"), ("a", "c")}
    assert not graph.is_balanced()
    graph.require_strongly_connected()


def test_undirected_edges_are_stored_both_ways() -> None:
    graph = Graph.from_edges(["a", "b", "c"], [("a", "b"), ("b", "c")], directed=False)
    assert set(graph.edges) == {("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")}
    assert graph.in_neighbours("b") == graph.out_neighbours("b") == ("a", "c")
    assert graph.is_balanced()


def test_neighbours_follow_node_order_not_edge_order() -> None:
    graph = Graph.from_edges(["z", "y", "x"], [("x", "z"), ("y", "z")])
    assert graph.in_neighbours("z") == ("y", "x")


def test_graph_is_immutable_and_comparable() -> None:
    graph = Graph.ring(["a", "b", "c"])
    with pytest.raises(AttributeError):
        graph.nodes = ("q",)  # type: ignore[misc]
    assert graph == Graph.ring(["a", "b", "c"])
    assert hash(graph) == hash(Graph.ring(["a", "b", "c"]))
    assert graph != Graph.ring(["a", "b", "c"], directed=True)
    assert len(graph) == 3


@pytest.mark.parametrize(
    ("nodes", "edges", "fragment"),
    [
        (["a", "b"], [("a", "q")], "unknown node 'q'"),
        (["a", "b"], [("a", "a")], "self loop"),
        (["a", "a"], [], "'a' is used twice"),
        (["a", "b"], [("a", "b"), ("a", "b")], "listed twice"),
        (["a", ""], [], "non-empty strings"),
    ],
)
def test_bad_graphs_are_rejected_with_the_reason(nodes: list[str], edges: list[tuple[str, str]], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Graph.from_edges(nodes, edges)


def test_an_undirected_edge_given_both_ways_is_a_duplicate() -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        Graph.from_edges(["a", "b"], [("a", "b"), ("b", "a")], directed=False)


def test_unknown_node_in_a_query_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown node 'nope'"):
        Graph.complete(["a", "b"]).in_neighbours("nope")


def test_require_strongly_connected_names_the_node() -> None:
    chain = Graph.from_edges(["a", "b", "c"], [("a", "b"), ("b", "c")])
    with pytest.raises(ConfigError, match="node 'b' cannot reach 'a'"):
        chain.require_strongly_connected()
    island = Graph.from_edges(["a", "b", "c"], [("a", "b"), ("b", "a")])
    with pytest.raises(ConfigError, match="node 'c' cannot be reached from 'a'"):
        island.require_strongly_connected()
    assert not island.is_strongly_connected()


def test_diameter_counts_the_hops_of_the_longest_shortest_path() -> None:
    assert Graph.complete(NODES).diameter() == 1
    assert Graph.ring(NODES).diameter() == 4
    assert Graph.ring(NODES, directed=True).diameter() == 7
    assert Graph.ring(["a"]).diameter() == 0
    assert Graph.from_edges(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a"), ("a", "c")]).diameter() == 2
    with pytest.raises(ConfigError, match="not strongly connected"):
        Graph.from_edges(["a", "b"], [("a", "b")]).diameter()


def test_complete_and_ring() -> None:
    complete = Graph.complete(NODES)
    assert len(complete.edges) == 8 * 7
    assert complete.in_neighbours("n3") == tuple(n for n in NODES if n != "n3")
    ring = Graph.ring(NODES)
    assert ring.in_neighbours("n0") == ("n1", "n7")
    directed = Graph.ring(NODES, directed=True)
    assert directed.in_neighbours("n0") == ("n7",)
    assert directed.out_neighbours("n0") == ("n1",)
    for graph in (complete, ring, directed):
        graph.require_strongly_connected()
        assert graph.is_balanced()
    assert Graph.ring(["a"]).edges == ()
    assert set(Graph.ring(["a", "b"]).edges) == {("a", "b"), ("b", "a")}


@pytest.mark.parametrize("seed", range(5))
def test_directed_ring_with_chords_is_strongly_connected_and_reproducible(seed: int) -> None:
    graph = Graph.directed_ring_with_chords(NODES, 6, np.random.default_rng(seed))
    assert len(graph.edges) == 8 + 6
    graph.require_strongly_connected()
    assert graph == Graph.directed_ring_with_chords(NODES, 6, np.random.default_rng(seed))
    with pytest.raises(ConfigError, match="chords must be between 0 and 48"):
        Graph.directed_ring_with_chords(NODES, 49, np.random.default_rng(seed))


def test_ring_with_chords_is_unbalanced_in_general() -> None:
    unbalanced = [not Graph.directed_ring_with_chords(NODES, 3, np.random.default_rng(s)).is_balanced()
                  for s in range(10)]
    assert sum(unbalanced) >= 8


@pytest.mark.parametrize("p", [0.0, 0.05, 0.3, 1.0])
def test_random_strongly_connected(p: float) -> None:
    for seed in range(5):
        graph = Graph.random_strongly_connected(NODES, p, np.random.default_rng(seed))
        graph.require_strongly_connected()
        assert graph == Graph.random_strongly_connected(NODES, p, np.random.default_rng(seed))
        if p == 0.0:
            assert len(graph.edges) == len(NODES)
        if p == 1.0:
            assert graph == Graph.complete(NODES)
    with pytest.raises(ConfigError, match=r"probability in \[0, 1\]"):
        Graph.random_strongly_connected(NODES, 1.5, np.random.default_rng(0))


@pytest.mark.parametrize(("k", "p"), [(2, 0.0), (2, 0.5), (4, 0.2), (6, 1.0)])
def test_small_world_is_undirected_connected_and_keeps_its_edge_count(k: int, p: float) -> None:
    nodes = [f"a{i}" for i in range(20)]
    for seed in range(5):
        graph = Graph.small_world(nodes, k, p, np.random.default_rng(seed))
        graph.require_strongly_connected()
        assert all((v, u) in set(graph.edges) for u, v in graph.edges)
        assert len(graph.edges) == 20 * k  # rewiring moves edges, never adds or drops them
        if p == 0.0 and k == 2:
            assert graph == Graph.ring(nodes)


@pytest.mark.parametrize("k", [0, 3, 20])
def test_small_world_rejects_a_bad_degree(k: int) -> None:
    with pytest.raises(ConfigError, match="k must be even"):
        Graph.small_world([f"a{i}" for i in range(20)], k, 0.1, np.random.default_rng(0))


SPEC: TypeAdapter[TopologySpec] = TypeAdapter(TopologySpec)


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "complete"},
        {"kind": "ring"},
        {"kind": "ring", "directed": True},
        {"kind": "directed-ring-chords", "chords": 3, "seed": 4},
        {"kind": "random-strongly-connected", "p": 0.2, "seed": 1},
        {"kind": "small-world", "k": 4, "p": 0.3, "seed": 2},
        {"kind": "edges", "edges": [["n0", "n1"], ["n1", "n0"]], "directed": True},
    ],
)
def test_specs_build_reproducible_graphs(data: dict[str, object]) -> None:
    spec = SPEC.validate_python(data)
    graph = spec.build(NODES)
    assert graph.nodes == tuple(NODES)
    assert graph == SPEC.validate_python(data).build(NODES)


def test_spec_errors_name_the_problem() -> None:
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        SPEC.validate_python({"kind": "star"})
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        SPEC.validate_python({"kind": "small-world", "p": 2})
    with pytest.raises(ConfigError, match="unknown node 'x'"):
        SPEC.validate_python({"kind": "edges", "edges": [["n0", "x"]]}).build(NODES)
