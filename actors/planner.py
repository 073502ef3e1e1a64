"""The coordinator's plan: which replicas to promote, create or drop. Pure.

Input is what the coordinator observed (each partition's active and standbys,
their health, node and lag); output is a list of actions. No Ray here, so the
rules (a dead active is replaced by its most caught-up standby, standbys keep
off their active's node when another node exists, slots are reused) are
property-tested directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Replica:
    slot: int
    node: str | None
    healthy: bool = True
    lag: int = 0


@dataclass
class PartitionView:
    active: Replica | None
    standbys: list[Replica] = field(default_factory=list)
    pending: set[int] = field(default_factory=set)  # slots of standbys still starting


@dataclass(frozen=True)
class Action:
    kind: str  # "drop", "promote", "create_active", "create_standby"
    partition: int
    slot: int
    avoid_node: str | None = None
    on_node: str | None = None  # a new standby's node: the one holding fewest replicas


def free_slot(used: set[int]) -> int:
    slot = 0
    while slot in used:
        slot += 1
    used.add(slot)
    return slot


def plan(views: dict[int, PartitionView], standbys_wanted: int, nodes: set[str],
         draining: frozenset[str] = frozenset()) -> list[Action]:
    """`nodes`: the nodes that can host a partition actor (alive, with CPU, not draining).

    Standbys on a draining node are dropped and started again elsewhere, so the
    node can go idle and be released; actives leave it by moves (`rebalance`).
    A new standby goes to the node holding fewest replicas (not its active's);
    when nothing else is to be done and the replicas per node differ by more
    than one, standbys move from the fullest node toward the emptiest
    (`_even_out_standbys`).
    """
    actions: list[Action] = []
    load = {n: 0 for n in nodes}  # replicas per node, kept current as actions are planned
    for view in views.values():
        for r in [view.active, *view.standbys]:
            if r is not None and r.healthy and r.node in load:
                load[r.node] += 1

    def dropped(p: int, r: Replica) -> Action:
        if r.healthy and r.node in load:
            load[r.node] -= 1
        return Action("drop", p, r.slot)

    def new_standby(p: int, used: set[int], avoid: str | None) -> Action:
        candidates = [n for n in load if n != avoid]
        target = min(candidates, key=lambda n: (load[n], n)) if avoid and candidates else None
        if target is not None:
            load[target] += 1
        return Action("create_standby", p, free_slot(used), avoid, target)

    for p, view in sorted(views.items()):
        used = {r.slot for r in [view.active, *view.standbys] if r is not None and r.healthy}
        used |= view.pending
        live = [s for s in view.standbys if s.healthy and s.node not in draining]
        actions += [dropped(p, s) for s in view.standbys if not s.healthy or s.node in draining]
        active = view.active
        if active is None or not active.healthy:
            if active is not None:
                actions.append(dropped(p, active))
            if live:
                best = min(live, key=lambda r: (r.lag, r.slot))
                live.remove(best)
                actions.append(Action("promote", p, best.slot))
                active_node = best.node
            else:
                actions.append(Action("create_active", p, free_slot(used)))
                active_node = None
        else:
            active_node = active.node
        avoid = active_node if active_node is not None and len(nodes) > 1 else None
        if avoid is not None:  # a standby sharing its active's node protects nothing
            for s in [s for s in live if s.node == avoid]:
                live.remove(s)  # its slot stays taken until the actor is gone
                actions.append(dropped(p, s))
        for _ in range(max(0, standbys_wanted - len(live) - len(view.pending))):
            actions.append(new_standby(p, used, avoid))
    if actions or not standbys_wanted or any(v.pending for v in views.values()) or len(load) < 2:
        return actions
    return _even_out_standbys(views, load)


def _even_out_standbys(views: dict[int, PartitionView], load: dict[str, int]) -> list[Action]:
    """Moves standbys along the shortest chain from the fullest node to one holding at
    least two fewer replicas. A direct move is often blocked (the standby's active is
    on the emptier node), but a chain through a third node is not: each hop moves one
    standby whose partition has no replica on the next node; the nodes in between keep
    their count. Empty when no chain exists (balanced as far as standbys can make it)."""

    def hops_from(here: str) -> Iterator[tuple[str, int, Replica]]:
        for p, view in sorted(views.items()):
            held = {r.node for r in [view.active, *view.standbys] if r is not None}
            for standby in (s for s in view.standbys if s.node == here):
                yield from ((there, p, standby) for there in sorted(load) if there not in held)

    lo = min(load.values())
    for fullest in sorted(load, key=lambda n: (-load[n], n)):
        if load[fullest] - lo <= 1:
            return []
        came_from: dict[str, tuple[str, int, Replica]] = {}
        queue = [fullest]
        while queue:
            here = queue.pop(0)
            if load[here] <= load[fullest] - 2:
                return _chain_actions(views, came_from, here, fullest)
            for there, p, standby in hops_from(here):
                if there != fullest and there not in came_from:
                    came_from[there] = (here, p, standby)
                    queue.append(there)
    return []


def _chain_actions(views: dict[int, PartitionView], came_from: dict[str, tuple[str, int, Replica]],
                   end: str, start: str) -> list[Action]:
    """Each hop of the chain: drop the standby, start one on the next node."""
    actions: list[Action] = []
    while end != start:
        here, p, standby = came_from[end]
        view = views[p]
        used = {r.slot for r in [view.active, *view.standbys] if r is not None}
        actions += [Action("drop", p, standby.slot),
                    Action("create_standby", p, free_slot(used),
                           view.active.node if view.active else None, end)]
        end = here
    return actions


def rebalance(actives: dict[int, str | None], nodes: set[str],
              leaving: frozenset[str] = frozenset()) -> list[tuple[int, str]]:
    """Moves that even out actives over `nodes`, moving as few partitions as possible.

    Sticky: a partition moves only off a node holding more than its fair share,
    and only onto a node holding fewer; partitions whose node is unknown stay.
    Partitions on a `leaving` node (being drained) all move, each to the node
    with fewest, before any evening out.
    """
    nodes = set(nodes) - leaving
    if not nodes:
        return []
    counts = {n: 0 for n in nodes}
    by_node: dict[str, list[int]] = {n: [] for n in nodes}
    moves = []
    for p, node in sorted(actives.items()):
        if node in counts:
            counts[node] += 1
            by_node[node].append(p)
    for p, node in sorted(actives.items()):
        if node in leaving:
            idlest = min(counts, key=lambda n: (counts[n], n))
            moves.append((p, idlest))
            counts[idlest] += 1
            by_node[idlest].append(p)
    while True:
        busiest = max(counts, key=lambda n: (counts[n], n))
        idlest = min(counts, key=lambda n: (counts[n], n))
        if counts[busiest] - counts[idlest] <= 1:
            return moves
        p = by_node[busiest].pop()
        moves.append((p, idlest))
        counts[busiest] -= 1
        counts[idlest] += 1
