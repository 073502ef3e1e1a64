"""Routing table reads from the driver or any Ray task to the owning actor.

The coordinator publishes the owners; the router caches them and refreshes
when an owner has died (a handle that was mid-call retries against the new
owner until a deadline).
"""

from __future__ import annotations

import time
from typing import Any

from cluster.partitioner import partition_for_key

_MISSING = object()
_routers: dict[tuple[str, str], Router] = {}


class Router:
    def __init__(self, app: str, namespace: str = "raytables", timeout: float = 60.0) -> None:
        self.app = app
        self.namespace = namespace
        self.timeout = timeout
        self._owners: dict[int, Any] = {}
        self._partitions = 0
        self._global: dict[str, bool] = {}

    def coordinator(self) -> Any:
        import ray

        try:
            return ray.get_actor(f"{self.app}/coordinator", namespace=self.namespace)
        except ValueError:
            raise LookupError(
                f"app {self.app!r} is not running in this Ray cluster (no actor "
                f"'{self.app}/coordinator' in namespace {self.namespace!r}): start it with "
                f"cluster.run()/cluster.start() first") from None

    def refresh(self) -> None:
        import ray

        assignment = ray.get(self.coordinator().assignment.remote(), timeout=self.timeout)
        self._owners = assignment["owners"]
        self._partitions = assignment["partitions"]

    def _call(self, partitions: list[int], method: str, *args: Any) -> list[Any]:
        import ray
        from ray.exceptions import RayActorError

        deadline = time.monotonic() + self.timeout
        while True:
            if not self._owners:
                self.refresh()
            try:
                refs = [getattr(self._owners[p], method).remote(*args) for p in partitions]
                return ray.get(refs, timeout=self.timeout)
            except RayActorError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                self._owners = {}

    @property
    def partitions(self) -> int:
        if not self._owners:
            self.refresh()
        return self._partitions

    def _lookup(self, method: str, table: str, key: Any, *args: Any) -> Any:
        owner = partition_for_key(key, self.partitions)
        if self.is_global(table):  # every partition holds all of it: ask the owner only
            [(found, value)] = self._call([owner], method, table, key, *args)
            return value if found else _MISSING
        [(found, value)] = self._call([owner], method, table, key, *args)
        if found:
            return value
        # a key written on the partition of a source event keyed otherwise
        others = [p for p in range(self.partitions) if p != owner]
        for found, value in self._call(others, method, table, key, *args):
            if found:
                return value
        return _MISSING

    def get(self, table: str, key: Any, default: Any) -> Any:
        value = self._lookup("get", table, key)
        return default if value is _MISSING else value

    def window_read(self, table: str, key: Any, how: str, arg: Any) -> Any:
        from cluster.tables import _MISSING as TABLE_MISSING

        value = self._lookup("window_read", table, key, how, arg)
        return TABLE_MISSING if value is _MISSING else value

    def write(self, table: str, key: Any, value: Any, delete: bool) -> bool:
        """use_partitioner: the owner of the key's partition applies and logs the write."""
        owner = partition_for_key(key, self.partitions)
        [existed] = self._call([owner], "write", table, key, value, delete)
        return existed

    def last_closed_windows(self, table: str) -> dict[int, float]:
        parts = list(range(self.partitions))
        return dict(zip(parts, self._call(parts, "last_closed_window", table)))

    def is_global(self, table: str) -> bool:
        if table not in self._global:
            [flag] = self._call([0], "is_global", table)
            self._global[table] = flag
        return self._global[table]

    def items(self, table: str) -> list[tuple[Any, Any]]:
        if self.is_global(table):
            return self._call([0], "items", table)[0]
        out: list[tuple[Any, Any]] = []
        for part in self._call(list(range(self.partitions)), "items", table):
            out.extend(part)
        return out

    def length(self, table: str) -> int:
        if self.is_global(table):
            return self._call([0], "length", table)[0]
        return sum(self._call(list(range(self.partitions)), "length", table))


def router_for(app: str, namespace: str = "raytables") -> Router:
    router = _routers.get((app, namespace))
    if router is None:
        router = _routers[(app, namespace)] = Router(app, namespace)
    return router
