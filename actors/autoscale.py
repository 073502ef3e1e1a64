"""When to ask Ray's autoscaler for capacity, and when to give it back. Pure.

The coordinator feeds `Autoscaler` the app's total lag and the time its
partitions spent processing once per reconcile round; it answers with the
number of extra CPUs to ask for, changing its mind only after the signal has
stayed high (or low) for several rounds in a row, so a burst does not make
nodes flap.

`Capacity` remembers where the app lived before it scaled out. Ray's
`request_resources` is a target for the whole cluster, not an increment, so
the request is the CPUs the cluster had before plus the extra; and on scale-in
the nodes added since are drained (partitions packed back onto the home
nodes) before the request is released, because the autoscaler only removes
nodes that are idle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cluster.config import ScalePolicy


@dataclass
class Autoscaler:
    policy: ScalePolicy
    requested_cpus: int = 0  # extra CPUs asked for, on top of the home nodes
    busy: float = 0.0  # mean fraction of wall time partitions spent in batches, last round
    _high: int = 0
    _low: int = 0
    _last: tuple[float, float] | None = None  # (busy seconds summed, at)

    def observe(self, total_lag: int, busy_seconds: float = 0.0, now: float | None = None,
                partitions: int = 1) -> int | None:
        """The new extra-CPU request when it changes, else None.

        Behind: lag above `high_lag`, or partitions busy nearly all the time while
        some lag remains (saturated: the next burst will not be absorbed).
        Idle: lag below `low_lag` and partitions mostly waiting for input.
        """
        p = self.policy
        if now is not None:
            if self._last is not None and now > self._last[1]:
                spent = max(0.0, busy_seconds - self._last[0])
                self.busy = min(1.0, spent / (now - self._last[1]) / max(1, partitions))
            self._last = (busy_seconds, now)
        behind = total_lag > p.high_lag or (self.busy >= p.busy_high and total_lag > p.low_lag)
        idle = total_lag < p.low_lag and self.busy < p.busy_low
        if behind:
            self._high, self._low = self._high + 1, 0
        elif idle:
            self._high, self._low = 0, self._low + 1
        else:
            self._high = self._low = 0
        if self._high >= p.rounds_up and self.requested_cpus < p.max_cpus:
            self._high = 0
            self.requested_cpus = min(p.max_cpus, self.requested_cpus + p.step_cpus)
            return self.requested_cpus
        if self._low >= p.rounds_down and self.requested_cpus > 0:
            self._low = 0
            self.requested_cpus = 0
            return 0
        return None


@dataclass
class Capacity:
    """The nodes the app lived on before scaling out, and the ones it is leaving."""

    home: frozenset[str] | None = None
    home_cpus: int = 0
    draining: set[str] = field(default_factory=set)
    released: bool = True  # no request of ours is in force
    packing: bool = False  # scaled in: waiting for the draining nodes to empty

    def scale_out(self, node_cpus: dict[str, float], extra_cpus: int) -> int:
        """The CPUs to request in all: the home nodes' plus the extra."""
        if self.home is None:
            self.home = frozenset(node_cpus)
            self.home_cpus = round(sum(node_cpus.values()))
        self.draining.clear()  # nodes being left are welcome again
        self.released = self.packing = False
        return self.home_cpus + extra_cpus

    def scale_in(self, alive: set[str]) -> set[str]:
        """Starts draining every node added since the scale-out; returns them.

        With no home node left alive there is nowhere to pack back to: nothing
        drains, and the request is released as is.
        """
        home = (self.home or frozenset()) & alive
        self.draining = set(alive - home) if home else set()
        self.packing = True
        return set(self.draining)

    def ready_to_release(self, replica_nodes: set[str | None]) -> bool:
        """True once scaled in and no replica is left on a draining node."""
        return self.packing and not (self.draining & replica_nodes)

    def release(self) -> None:
        self.released, self.packing = True, False

    def forget_gone(self, alive: set[str]) -> None:
        """Draining nodes the autoscaler removed are done; with none left the
        next scale-out measures its home afresh."""
        self.draining &= alive
        if self.released and not self.draining:
            self.home = None
            self.home_cpus = 0
