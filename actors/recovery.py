"""Rebuilding a partition's tables from their changelogs before it consumes.

Each table reads its changelog partition from the store's persisted offset
(an empty or memory store from the beginning) up to the high watermark
captured at the start, in large batches. The loop is bounded: it ends when
every position has reached its captured end, and fails with the table,
partition and offsets when it stops making progress.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from actors import kafka_io
from cluster.errors import ChangelogAheadOfTopic, PartitionFailed

log = logging.getLogger("raytables.recovery")


@dataclass
class TableRecovery:
    """One table partition's recovery: where it starts, where it must end."""

    table: str
    tp: TopicPartition
    start: int
    end: int
    done: int = 0
    applies: int = 0

    @property
    def total(self) -> int:
        return max(0, self.end - self.start)

    @property
    def needs_recovery(self) -> bool:
        return self.end > self.start


def plan(table: str, tp: TopicPartition, stored: int | None, begin: int, end: int,
         store_path: str | None) -> TableRecovery:
    """Where to read from; an offset beyond the topic's end is refused, not ignored."""
    if stored is not None and stored + 1 > end:
        raise ChangelogAheadOfTopic(
            f"table {table!r} partition {tp.partition}: the store has applied changelog "
            f"offset {stored} but {tp.topic!r} ends at {end} (was the topic deleted and "
            f"recreated?). Delete the store at {store_path or '(memory)'} to rebuild it from "
            f"the changelog, or restore the topic."
        )
    start = begin if stored is None else max(stored + 1, begin)
    return TableRecovery(table, tp, start, end)


async def recover_tables(runtime: Any, stall_timeout: float = 60.0,
                         consumer: Any = None) -> dict[str, Any]:
    """Replays every table's changelog tail into its store; returns what it did.

    `consumer`: a started changelog consumer to use (and stop) instead of a new
    one: a promoted standby hands over its tail's, saving a client start.
    """
    from cluster import tracing

    with tracing.span("partition.recovery", {"raytables.partition": runtime.partition}) as s:
        report = await _recover(runtime, stall_timeout, consumer)
        if s is not None:
            s.set_attribute("raytables.recovery.records", report.get("records", 0))
            s.set_attribute("raytables.recovery.seconds", report.get("seconds", 0.0))
        return report


async def _recover(runtime: Any, stall_timeout: float, consumer: Any = None) -> dict[str, Any]:
    cores = runtime.cores
    tables = runtime.spec.tables
    if not cores:
        if consumer is not None:
            await consumer.stop()
        return {}
    bootstrap = runtime.bootstrap
    if consumer is None:
        consumer = kafka_io.consumer(bootstrap, group_id=None, fetch_max_wait_ms=50)
        await kafka_io.start_client(consumer, bootstrap, runtime.config.broker_timeout)
    started = time.monotonic()
    report: dict[str, Any] = {}
    try:
        tps = {TopicPartition(tables[name].changelog, runtime.partition): name for name in cores}
        consumer.assign(list(tps))
        ends = await kafka_io.offsets(consumer, list(tps), "end_offsets")
        begins = await kafka_io.offsets(consumer, list(tps), "beginning_offsets")
        plans: dict[TopicPartition, TableRecovery] = {}
        for tp, name in tps.items():
            core = cores[name]
            p = plan(name, tp, core.changelog_offset, begins[tp], ends[tp],
                     getattr(core.store, "path", None))
            plans[tp] = p
            if p.needs_recovery:
                consumer.seek(tp, p.start)
        active = {tp for tp, p in plans.items() if p.needs_recovery}
        total = sum(p.total for p in plans.values())
        runtime.recovery = {"total": total, "done": 0, "rate": 0.0, "eta": None, "active": True}
        if not active:
            consumer.pause(*tps)
        last_progress = last_log = time.monotonic()
        while active:
            batch = await consumer.getmany(*active, timeout_ms=200,
                                           max_records=runtime.config.recovery_buffer_size)
            for tp, records in batch.items():
                p = plans[tp]
                kept = [r for r in records if r.offset < p.end]
                size = tables[p.table].recovery_buffer_size or len(kept) or 1
                for i in range(0, len(kept), size):  # the table's recovery_buffer_size per apply
                    chunk = kept[i:i + size]
                    cores[p.table].apply_changelog([(r.key, r.value) for r in chunk],
                                                   chunk[-1].offset)
                    runtime.notify_changelog(p.table, chunk)
                    p.applies += 1
                p.done += len(kept)
                if kept:
                    last_progress = time.monotonic()
            for tp in list(active):
                if await consumer.position(tp) >= plans[tp].end:
                    active.discard(tp)
            done = sum(p.done for p in plans.values())
            elapsed = max(time.monotonic() - started, 1e-6)
            rate = done / elapsed
            runtime.recovery = {"total": total, "done": done, "rate": rate,
                                "eta": (total - done) / rate if rate else None}
            if time.monotonic() - last_log > 2:
                last_log = time.monotonic()
                log.info("partition %d recovering: %d/%d changelog records (%.0f/s, %.0fs left)",
                         runtime.partition, done, total, rate,
                         (total - done) / rate if rate else float("nan"))
            if time.monotonic() - last_progress > stall_timeout:
                stuck = {f"{tp.topic}/{tp.partition}": (await consumer.position(tp), plans[tp].end)
                         for tp in active}
                raise PartitionFailed(f"recovery of partition {runtime.partition} made no "
                                      f"progress for {stall_timeout:.0f}s; position/end: {stuck}")
        elapsed = time.monotonic() - started
        records = sum(p.done for p in plans.values())
        report = {
            "total": total, "done": records, "active": False,
            "records": records, "seconds": round(elapsed, 3),
            "rate": records / elapsed if elapsed > 0 else 0.0,
            "tables": {p.table: {"from": p.start, "to": p.end, "records": p.done,
                                 "applies": p.applies}
                       for p in plans.values()},
        }
        if records:
            log.info("partition %d recovered %d changelog records in %.2fs", runtime.partition,
                     records, elapsed)
    finally:
        await consumer.stop()
    # restored windows expire like live ones: stream time starts at the newest window seen
    for core in cores.values():
        newest = core.newest_window_start()
        if newest is not None:
            runtime.binding.stream_time = max(runtime.binding.stream_time, newest)
            runtime._clock = (runtime.binding.stream_time, time.time())
    await run_recover_callbacks(runtime)
    return report


async def run_recover_callbacks(runtime: Any) -> None:
    """`on_recover` / `recover_callbacks` of each table, awaited after its recovery."""
    import inspect

    for table in runtime.spec.tables.values():
        for callback in table.recover_callbacks:
            result = callback()
            if inspect.isawaitable(result):
                await result
