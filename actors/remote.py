"""The thin Ray shells: one place that applies ray.remote, names and options.

The logic lives in plain classes (PartitionRuntime, CoordinatorRuntime); the
shells only delegate, so the logic is testable without Ray.
"""

from __future__ import annotations

from typing import Any

import ray
from ray import cloudpickle  # Ray's own: classes keep their identity across Ray calls

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
    def __init__(self, spec_bytes: bytes, partition: int, role: str, slot: int) -> None:
        _setup_logging()
        self.runtime = PartitionRuntime(cloudpickle.loads(spec_bytes), partition, role, slot)

    async def start(self) -> dict[str, Any]:
        return await self.runtime.start()

    async def promote(self) -> dict[str, Any]:
        return await self.runtime.promote()

    async def recovery_status(self) -> dict[str, Any]:
        return dict(self.runtime.recovery, partition=self.runtime.partition)

    async def stop(self) -> dict[str, Any]:
        return await self.runtime.stop()

    async def prepare_handoff(self, handing_over: bool = True) -> None:
        await self.runtime.prepare_handoff(handing_over)

    async def warm_up(self) -> None:
        await self.runtime.warm_up()

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

    async def write(self, table: str, key: Any, value: Any, delete: bool) -> bool:
        return await self.runtime.table_write(table, key, value, delete)

    async def last_closed_window(self, table: str) -> float:
        return self.runtime.cores[table].last_closed_window

    async def is_global(self, table: str) -> bool:
        return self.runtime.spec.tables[table].is_global

    async def window_read(self, table: str, key: Any, how: str, arg: Any) -> tuple[bool, Any]:
        return self.runtime.window_read(table, key, how, arg)

    async def pid(self) -> int:
        import os

        return os.getpid()


def create_partition_actor(config: AppConfig, spec_bytes: bytes, partition: int, role: str,
                           slot: int, avoid: frozenset[str] = frozenset(),
                           on_node: str | None = None) -> Any:
    """A partition actor; `avoid` keeps a standby off its active's node and every replica
    off draining nodes, `on_node` places a migration target."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options: dict[str, Any] = {}
    if on_node is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(on_node, soft=False)
    elif len(avoid) == 1:
        options["label_selector"] = {"ray.io/node-id": f"!{next(iter(avoid))}"}
    elif avoid:
        # no space after the commas: Ray 2.60 takes "!in(a, b)" as "!in(a)" (checked here)
        options["label_selector"] = {"ray.io/node-id": f"!in({','.join(sorted(avoid))})"}
    return (
        ray.remote(PartitionActor)
        .options(name=config.partition_actor_name(partition, slot), namespace=config.namespace,
                 num_cpus=config.actor_cpus, max_restarts=0, max_concurrency=1000, **options)
        .remote(spec_bytes, partition, role, slot)
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

    async def replicas(self) -> list[dict[str, Any]]:
        return await self.runtime.replicas()

    async def recovery_progress(self) -> list[dict[str, Any]]:
        return await self.runtime.recovery_progress()

    async def move(self, partition: int, node_id: str | None = None) -> dict[str, Any]:
        return await self.runtime.move(partition, node_id)

    async def drain(self, node_id: str, wait: bool = True,
                    timeout: float = 300) -> dict[str, Any]:
        return await self.runtime.drain(node_id, wait, timeout)

    async def undrain(self, node_id: str) -> None:
        await self.runtime.undrain(node_id)

    async def stop(self) -> dict[str, Any]:
        return await self.runtime.stop()

    async def spec(self) -> bytes:
        return self.runtime.spec_bytes

    async def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()


def create_coordinator(config: AppConfig, spec_bytes: bytes) -> Any:
    """On the driver's node (the head under `ray job submit`): nodes the autoscaler
    removes, or that fail, must not take the coordinator with them."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    return (
        ray.remote(Coordinator)
        .options(name=config.coordinator_name, namespace=config.namespace, num_cpus=0,
                 max_restarts=0, max_concurrency=1000,
                 scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False))
        .remote(spec_bytes)
    )
