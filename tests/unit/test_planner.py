"""The coordinator's planner: invariants over arbitrary observed states."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from actors.planner import Action, PartitionView, Replica, plan

nodes = st.sampled_from(["n1", "n2", "n3"])
replica = st.builds(Replica, slot=st.integers(0, 5), node=nodes, healthy=st.booleans(),
                    lag=st.integers(0, 100))


@st.composite
def views(draw):
    out = {}
    for p in range(draw(st.integers(1, 4))):
        reps = draw(st.lists(replica, max_size=4, unique_by=lambda r: r.slot))
        active = reps[0] if reps and draw(st.booleans()) else None
        out[p] = PartitionView(active, reps[1:] if active else reps)
    return out


@given(views(), st.integers(0, 2), st.sets(nodes, min_size=1))
def test_every_partition_ends_with_one_active_and_the_wanted_standbys(vs, wanted, alive):
    actions = plan(vs, wanted, alive)
    for p, view in vs.items():
        mine = [a for a in actions if a.partition == p]
        healthy_standbys = [s for s in view.standbys if s.healthy]
        active_ok = view.active is not None and view.active.healthy
        new_active = [a for a in mine if a.kind in ("promote", "create_active")]
        assert len(new_active) == (0 if active_ok else 1)
        promoted = [a for a in mine if a.kind == "promote"]
        if not active_ok and healthy_standbys:
            best = min(healthy_standbys, key=lambda r: (r.lag, r.slot))
            assert promoted and promoted[0].slot == best.slot  # most caught up
        dropped_live = sum(a.kind == "drop" and a.slot in {s.slot for s in healthy_standbys}
                           for a in mine)
        standbys_after = len(healthy_standbys) - len(promoted) - dropped_live + sum(
            a.kind == "create_standby" for a in mine)
        assert standbys_after == max(wanted, len(healthy_standbys) - len(promoted) - dropped_live)
        # every dead replica is dropped, every new slot is unused by a live replica
        dead = {r.slot for r in [view.active, *view.standbys] if r is not None and not r.healthy}
        assert dead <= {a.slot for a in mine if a.kind == "drop"}
        live = {r.slot for r in [view.active, *view.standbys] if r is not None and r.healthy}
        created = [a.slot for a in mine if a.kind.startswith("create")]
        assert len(set(created)) == len(created) and not set(created) & live


def test_standby_avoids_the_active_node_when_another_exists():
    view = {0: PartitionView(Replica(0, "n1"), [])}
    [action] = plan(view, 1, {"n1", "n2"})
    assert (action.kind, action.avoid_node) == ("create_standby", "n1")
    [action] = plan(view, 1, {"n1"})
    assert action.avoid_node is None


def test_a_standby_on_its_actives_node_is_replaced_elsewhere():
    view = {0: PartitionView(Replica(0, "n1"), [Replica(1, "n1")])}
    actions = plan(view, 1, {"n1", "n2"})
    assert [(a.kind, a.slot, a.avoid_node) for a in actions] == [
        ("drop", 1, None), ("create_standby", 2, "n1")]
    assert plan(view, 1, {"n1"}) == []  # one node: nothing better to do


def test_dead_active_is_replaced_by_the_least_lagging_standby():
    view = {0: PartitionView(Replica(0, "n1", healthy=False),
                             [Replica(1, "n2", lag=9), Replica(2, "n3", lag=2)])}
    actions = plan(view, 1, {"n2", "n3"})
    assert [(a.kind, a.slot) for a in actions] == [("drop", 0), ("promote", 2)]


@given(st.dictionaries(st.integers(0, 15), st.sampled_from(["n1", "n2", "n3", "n4"]), min_size=1),
       st.sets(st.sampled_from(["n1", "n2", "n3", "n4"]), min_size=1))
def test_rebalance_evens_out_actives_and_moves_only_what_must(actives, nodes):
    from actors.planner import rebalance

    moves = rebalance(actives, nodes)
    after = dict(actives)
    for p, target in moves:
        assert target in nodes and after[p] != target
        after[p] = target
    placed = [n for n in after.values() if n in nodes]
    counts = [placed.count(n) for n in nodes]
    assert max(counts) - min(counts) <= 1
    # minimal: only partitions above the fair share move
    fair = -(-len(placed) // len(nodes))
    excess = sum(max(0, [n for n in actives.values() if n in nodes].count(node) - fair)
                 for node in nodes)
    assert len(moves) <= excess + len(nodes)
    assert len({p for p, _ in moves}) == len(moves)  # nothing moves twice


def test_standbys_on_a_draining_node_are_dropped_and_started_again():
    view = {0: PartitionView(Replica(0, "home1"), [Replica(1, "new1")])}
    actions = plan(view, 1, {"home1", "home2"}, draining=frozenset({"new1"}))
    assert [(a.kind, a.slot, a.avoid_node) for a in actions] == [
        ("drop", 1, None), ("create_standby", 2, "home1")]


@given(st.dictionaries(st.integers(0, 15), st.sampled_from(["n1", "n2", "n3", "n4"]), min_size=1),
       st.sets(st.sampled_from(["n3", "n4"]), min_size=1))
def test_rebalance_moves_everything_off_leaving_nodes_and_stays_balanced(actives, leaving):
    from actors.planner import rebalance

    nodes = {"n1", "n2", "n3", "n4"}
    moves = rebalance(actives, nodes, frozenset(leaving))
    after = dict(actives)
    for p, target in moves:
        assert target not in leaving and after[p] != target
        after[p] = target
    assert not set(after.values()) & leaving
    counts = [list(after.values()).count(n) for n in nodes - leaving]
    assert max(counts) - min(counts) <= 1
    on_leaving = sum(1 for n in actives.values() if n in leaving)
    assert len(moves) >= on_leaving
    assert len({p for p, _ in moves}) == len(moves)


def settle(views: dict[int, PartitionView], nodes: set[str], rounds: int = 30) -> list[Action]:
    """Runs plan rounds, carrying out each action at once (standbys start where planned)."""
    done: list[Action] = []
    for _ in range(rounds):
        actions = plan(views, 1, nodes)
        if not actions:
            return done
        for a in actions:
            view = views[a.partition]
            if a.kind == "drop":
                view.standbys = [s for s in view.standbys if s.slot != a.slot]
            elif a.kind == "create_standby":
                view.standbys.append(Replica(a.slot, a.on_node))
        done += actions
    raise AssertionError(f"no steady state after {rounds} rounds")


@given(st.lists(st.sampled_from(["n1", "n2", "n3"]), min_size=1, max_size=12),
       st.sampled_from([{"n1", "n2"}, {"n1", "n2", "n3"}, {"n1", "n2", "n3", "n4"}]))
def test_standbys_settle_balanced_and_apart_from_their_actives(active_nodes, nodes):
    nodes = nodes | set(active_nodes)
    views = {p: PartitionView(Replica(0, n)) for p, n in enumerate(active_nodes)}
    actions = settle(views, nodes)
    assert all(a.on_node is not None for a in actions if a.kind == "create_standby")
    assert all(len(v.standbys) == 1 and v.standbys[0].node != v.active.node
               for v in views.values())
    load = Counter(r.node for v in views.values() for r in [v.active, *v.standbys])
    per_node = [load.get(n, 0) for n in nodes]
    # settled: no standby on a fullest node could go to an emptiest one
    lo, hi = min(per_node), max(per_node)
    if hi - lo > 1:
        for v in views.values():
            nodes_of = {r.node for r in [v.active, *v.standbys]}
            for s in v.standbys:
                if load[s.node] == hi:
                    assert all(load.get(n, 0) > lo or n in nodes_of for n in nodes), load


def test_standbys_of_a_one_node_app_spread_over_new_nodes_evenly():
    views = {p: PartitionView(Replica(0, "n1" if p < 3 else "n2")) for p in range(6)}
    settle(views, {"n1", "n2", "n3"})
    load = Counter(r.node for v in views.values() for r in [v.active, *v.standbys])
    assert sorted(load.values()) == [4, 4, 4], load


def test_standbys_even_out_one_at_a_time_when_a_node_joins():
    views = {p: PartitionView(Replica(0, "n1" if p % 2 else "n2"),
                              [Replica(1, "n2" if p % 2 else "n1")]) for p in range(4)}
    assert plan(views, 1, {"n1", "n2"}) == []  # balanced: 4 and 4
    actions = plan(views, 1, {"n1", "n2", "n3"})
    (drop, create) = actions
    assert (drop.kind, create.kind, create.on_node) == ("drop", "create_standby", "n3")
    assert drop.partition == create.partition and create.avoid_node != "n3"
    # while that standby starts, nothing else moves
    views[create.partition].pending.add(create.slot)
    views[create.partition].standbys = [s for s in views[create.partition].standbys
                                        if s.slot != drop.slot]
    assert plan(views, 1, {"n1", "n2", "n3"}) == []
