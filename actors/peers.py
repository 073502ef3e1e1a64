"""One wrapper per partition actor: every Ray call to it goes through here.

The coordinator's planning code sees partitions, states and health counters;
this wrapper holds the handle, the in-flight start call and the failures.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from actors.planner import Replica


@dataclass
class PartitionPeer:
    partition: int
    name: str
    handle: Any
    role: str = "active"
    slot: int = 0
    avoid_node: str | None = None
    node_id: str | None = None
    lag: int = 0
    started: bool = False
    failures: int = 0
    restarts: int = 0
    last_error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    async def start(self, timeout: float) -> dict[str, Any]:
        self.info = await asyncio.wait_for(self.handle.start.remote(), timeout)
        self.started = True
        return self.info

    async def refresh(self) -> None:
        progress = await self.call("progress", timeout=30)
        self.node_id = progress.get("node_id")

    def replica(self, healthy: bool) -> Replica:
        return Replica(self.slot, self.node_id, healthy, self.lag)

    async def healthy(self, timeout: float = 5.0) -> bool:
        """False when the actor is dead or its loop failed; slow answers are not death."""
        try:
            progress = await asyncio.wait_for(self.handle.progress.remote(), timeout)
        except RayActorError as exc:
            self.last_error = repr(exc)
            return False
        except (asyncio.TimeoutError, GetTimeoutError):
            self.failures += 1
            return self.failures < 6
        self.failures = 0
        self.lag = progress.get("changelog_lag", 0)
        self.node_id = progress.get("node_id", self.node_id)
        if progress.get("error"):
            self.last_error = progress["error"]
            return False
        return True

    async def call(self, method: str, *args: Any, timeout: float = 60.0) -> Any:
        return await asyncio.wait_for(getattr(self.handle, method).remote(*args), timeout)

    def kill(self) -> None:
        try:
            ray.kill(self.handle, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
