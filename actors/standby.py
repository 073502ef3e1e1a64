"""A standby's changelog tail: keeps a replica's stores current, reports its lag.

The standby reads its tables' changelog partitions from its stores' offsets,
applies each fetched batch in one store write per table, and keeps going
until it is promoted or stopped. On promotion the runtime stops the tail and,
with the tail's consumer, reads whatever remains up to the high watermark
before it consumes sources.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import TopicPartition

from actors import kafka_io

log = logging.getLogger("raytables.standby")


class ChangelogTail:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.applied = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.error: str | None = None
        self._tps: dict[TopicPartition, str] = {}

    async def start(self) -> None:
        rt = self.runtime
        self.consumer = kafka_io.consumer(rt.bootstrap, group_id=None, fetch_max_wait_ms=50)
        await kafka_io.start_client(self.consumer, rt.bootstrap, rt.config.broker_timeout)
        self._tps = {TopicPartition(rt.spec.tables[name].changelog, rt.partition): name
                     for name in rt.cores}
        if not self._tps:
            return
        self.consumer.assign(list(self._tps))
        begins = await kafka_io.offsets(self.consumer, list(self._tps), "beginning_offsets")
        for tp, name in self._tps.items():
            stored = rt.cores[name].changelog_offset
            self.consumer.seek(tp, begins[tp] if stored is None else max(stored + 1, begins[tp]))
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        buffer = self.runtime.config.standby_buffer_size
        try:
            while not self._stopping:
                batch = await self.consumer.getmany(timeout_ms=100, max_records=buffer)
                for tp, records in batch.items():
                    core = self.runtime.cores[self._tps[tp]]
                    size = self.runtime.spec.tables[self._tps[tp]].standby_buffer_size
                    size = size or len(records)
                    for i in range(0, len(records), size):
                        chunk = records[i:i + size]
                        core.apply_changelog([(r.key, r.value) for r in chunk], chunk[-1].offset)
                    self.applied += len(records)
                    self.runtime.notify_changelog(self._tps[tp], records)
        except Exception as exc:  # noqa: BLE001 - reported through progress(); the coordinator replaces us
            self.error = repr(exc)
            log.exception("standby tail of partition %d failed", self.runtime.partition)

    async def lag(self) -> int:
        if not self._tps:
            return 0
        ends = await self.consumer.end_offsets(list(self._tps))
        lag = 0
        for tp in self._tps:
            lag += max(0, ends[tp] - await self.consumer.position(tp))
        return lag

    async def stop(self, keep_consumer: bool = False) -> Any:
        """Stops tailing; with `keep_consumer` the started consumer is returned (for the
        promotion's last read) instead of closed."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()  # between batches or in a fetch: applies are synchronous
            await asyncio.wait({self._task}, timeout=10)
        if keep_consumer:
            return self.consumer
        await self.consumer.stop()
        return None
