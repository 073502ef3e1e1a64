"""The thin Ray shells: one place that applies ray.remote, names and options.

The logic lives in plain classes (PartitionRuntime, CoordinatorRuntime); the
shells only delegate, so the logic is testable without Ray.
"""

from __future__ import annotations

from typing import Any

import cloudpickle
import ray

from actors.coordinator import CoordinatorRuntime
from actors.partition import PartitionRuntime
from cluster.config import AppConfig


def _setup_logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # "coordinator not available" while the group's offsets topic is created is routine
    logging.getLogger("aiokafka.consumer.group_coordinator").setLevel(logging.CRITICAL)


class PartitionActor:
    def __init__(self, spec_bytes: bytes, partition: int) -> None:
        _setup_logging()
        self.runtime = PartitionRuntime(cloudpickle.loads(spec_bytes), partition)

    async def start(self) -> dict[str, Any]:
        return await self.runtime.start()

    async def stop(self) -> dict[str, Any]:
        return await self.runtime.stop()

    async def progress(self) -> dict[str, Any]:
        return await self.runtime.progress()

    async def stats(self) -> dict[str, Any]:
        return self.runtime.stats()

    async def get(self, table: str, key: Any) -> tuple[bool, Any]:
        return self.runtime.table_get(table, key)

    async def items(self, table: str) -> list[tuple[Any, Any]]:
        return self.runtime.table_items(table)

    async def length(self, table: str) -> int:
        return self.runtime.table_len(table)

    async def window_read(self, table: str, key: Any, how: str, arg: Any) -> tuple[bool, Any]:
        return self.runtime.window_read(table, key, how, arg)

    async def pid(self) -> int:
        import os

        return os.getpid()


def create_partition_actor(name: str, config: AppConfig, spec_bytes: bytes, partition: int) -> Any:
    return (
        ray.remote(PartitionActor)
        .options(name=name, namespace=config.namespace, num_cpus=config.actor_cpus,
                 max_restarts=0, max_concurrency=1000)
        .remote(spec_bytes, partition)
    )


class Coordinator:
    def __init__(self, spec_bytes: bytes) -> None:
        _setup_logging()
        self.runtime = CoordinatorRuntime(spec_bytes, create_partition_actor)

    async def start(self) -> dict[str, Any]:
        return await self.runtime.start()

    async def assignment(self) -> dict[str, Any]:
        return self.runtime.assignment()

    async def progress(self) -> list[dict[str, Any]]:
        return await self.runtime.progress()

    async def stats(self) -> dict[str, Any]:
        return await self.runtime.stats()

    async def stop(self) -> dict[str, Any]:
        return await self.runtime.stop()

    async def spec(self) -> bytes:
        return self.runtime.spec_bytes


def create_coordinator(config: AppConfig, spec_bytes: bytes) -> Any:
    return (
        ray.remote(Coordinator)
        .options(name=config.coordinator_name, namespace=config.namespace, num_cpus=0,
                 max_restarts=0, max_concurrency=1000)
        .remote(spec_bytes)
    )
