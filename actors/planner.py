"""The coordinator's plan: which replicas to promote, create or drop. Pure.

Input is what the coordinator observed (each partition's active and standbys,
their health, node and lag); output is a list of actions. No Ray here, so the
rules (a dead active is replaced by its most caught-up standby, standbys keep
off their active's node when another node exists, slots are reused) are
property-tested directly.
"""

from __future__ import annotations

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


def _free_slot(used: set[int]) -> int:
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
    """
    actions: list[Action] = []
    for p, view in sorted(views.items()):
        used = {r.slot for r in [view.active, *view.standbys] if r is not None and r.healthy}
        used |= view.pending
        live = [s for s in view.standbys if s.healthy and s.node not in draining]
        actions += [Action("drop", p, s.slot) for s in view.standbys
                    if not s.healthy or s.node in draining]
        active = view.active
        if active is None or not active.healthy:
            if active is not None:
                actions.append(Action("drop", p, active.slot))
            if live:
                best = min(live, key=lambda r: (r.lag, r.slot))
                live.remove(best)
                actions.append(Action("promote", p, best.slot))
                active_node = best.node
            else:
                actions.append(Action("create_active", p, _free_slot(used)))
                active_node = None
        else:
            active_node = active.node
        avoid = active_node if active_node is not None and len(nodes) > 1 else None
        if avoid is not None:  # a standby sharing its active's node protects nothing
            for s in [s for s in live if s.node == avoid]:
                live.remove(s)  # its slot stays taken until the actor is gone
                actions.append(Action("drop", p, s.slot))
        for _ in range(max(0, standbys_wanted - len(live) - len(view.pending))):
            actions.append(Action("create_standby", p, _free_slot(used), avoid))
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
