"""Global tables: every partition actor keeps the whole table, fed by its changelog.

Each active partition reads every partition of the table's changelog from the
beginning up to the high watermark captured at start (bounded, so a global
table can never hang startup as in Faust), then keeps tailing it. Agents read
it locally; their writes go to the changelog partition of the key, like any
`use_partitioner` write, and come back to every replica through the tail. A
key this replica has changed but not yet flushed is not overwritten by an
older record arriving from the tail.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import TopicPartition

from actors import kafka_io
from actors.stores import open_store
from actors.table_core import TablePartition
from cluster.errors import PartitionFailed

log = logging.getLogger("raytables.global")


class GlobalReplica:
    def __init__(self, runtime: Any, table: Any, core: TablePartition) -> None:
        self.runtime = runtime
        self.table = table
        self.core = core
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.applied = 0
        self.error: str | None = None

    @classmethod
    def open(cls, runtime: Any, table: Any, codec: Any, key_type: Any) -> GlobalReplica:
        core = TablePartition(table.name, -1, open_store("memory://"), codec, key_type=key_type)
        return cls(runtime, table, core)

    async def start(self, stall_timeout: float = 60.0) -> int:
        """Catches up to the captured end of every partition; returns records applied."""
        rt = self.runtime
        self.consumer = kafka_io.consumer(rt.bootstrap, group_id=None, fetch_max_wait_ms=20)
        await kafka_io.start_client(self.consumer, rt.bootstrap, rt.config.broker_timeout)
        tps = [TopicPartition(self.table.changelog, p) for p in range(rt.spec.partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        ends = await kafka_io.offsets(self.consumer, tps, "end_offsets")
        pending = {tp for tp in tps if ends[tp] > 0}
        last_progress = time.monotonic()
        while pending:
            if await self._apply_once():
                last_progress = time.monotonic()
            for tp in list(pending):
                if await self.consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if time.monotonic() - last_progress > stall_timeout:
                raise PartitionFailed(f"global table {self.table.name!r} made no progress for "
                                      f"{stall_timeout:.0f}s; still behind on {sorted(pending)}")
        caught_up = self.applied
        self._task = asyncio.get_running_loop().create_task(self._tail())
        return caught_up

    async def _apply_once(self) -> int:
        size = self.table.standby_buffer_size or self.runtime.config.standby_buffer_size
        batch = await self.consumer.getmany(timeout_ms=100, max_records=size)
        n = 0
        for _tp, records in batch.items():
            self.core.apply_changelog([(r.key, r.value) for r in records], records[-1].offset,
                                      keep_dirty=True)
            self.runtime.notify_changelog(self.table.name, records)
            n += len(records)
        self.applied += n
        return n

    async def _tail(self) -> None:
        try:
            while not self._stopping:
                await self._apply_once()
        except Exception as exc:  # noqa: BLE001 - reported through progress(); the actor is replaced
            self.error = repr(exc)
            log.exception("global table %r tail failed", self.table.name)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=10)
        if hasattr(self, "consumer"):
            await self.consumer.stop()
