"""When to ask Ray's autoscaler for capacity, and when to give it back. Pure.

The coordinator feeds it the app's total lag once per reconcile round; it
answers with the number of extra CPUs to request (`ray.autoscaler.sdk.
request_resources`), changing its mind only after the lag has stayed high (or
low) for several rounds in a row, so a burst does not make nodes flap.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.config import ScalePolicy


@dataclass
class Autoscaler:
    policy: ScalePolicy
    requested_cpus: int = 0
    _high: int = 0
    _low: int = 0

    def observe(self, total_lag: int) -> int | None:
        """The new CPU request when it changes, else None."""
        p = self.policy
        if total_lag > p.high_lag:
            self._high, self._low = self._high + 1, 0
        elif total_lag < p.low_lag:
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
