"""The partition runtime: what one PartitionActor does, as a plain async class.

Per source batch: decode, run the agents (or forward to the repartition topic
for group_by), close windows, then write each table's changed keys to its
changelog and the agents' output in producer batches, wait for the acks,
persist the stores with the changelog offsets reached, and only then commit
the source offsets under group id = app. A crash anywhere replays at most the
uncommitted batch (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from actors import kafka_io
from actors.closes import CloseDispatcher
from actors.global_tables import GlobalReplica
from actors.lifecycle import Lifecycle, PartitionState
from actors.recovery import recover_tables
from actors.standby import ChangelogTail
from actors.stores import open_store
from actors.table_core import TablePartition
from cluster import context, tracing
from cluster.agents import Agent
from cluster.codecs import DecodeError, encode_key
from cluster.config import AppSpec
from cluster.context import Event, PartitionBinding
from cluster.partitioner import partition_for_bytes
from cluster.streams import Stream

log = logging.getLogger("raytables.partition")


class PartitionFenced(RuntimeError):
    """A newer incarnation of this partition took over its transactional id."""


@dataclass
class Route:
    """What to do with records of one assigned topic partition."""

    agent: Agent
    forward_to: str | None  # repartition topic for group_by, else None (feed the agent)


class AgentRunner:
    """One agent's coroutine on this partition, restarted when it raises."""

    def __init__(self, agent: Agent, binding: PartitionBinding, on_error: Any) -> None:
        self.agent = agent
        self.stream = Stream(agent.topic.name)
        if agent.group_by is not None:
            self.stream.group_by_key = agent.group_by
        self.stream.bind(binding)
        self.binding = binding
        self.on_error = on_error
        self.task = self._spawn()

    def _spawn(self) -> asyncio.Task[Any]:
        return asyncio.get_running_loop().create_task(self.agent.fn(self.stream))

    async def run(self, events: list[Event]) -> None:
        while not await self.stream.feed(events, self.task):
            exc = None if self.task.cancelled() else self.task.exception()
            self.on_error(self.agent, self.binding.event, exc)
            self.task = self._spawn()
            if self.stream.remaining() == 0:
                return

    async def stop(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except BaseException:
            pass


class PartitionRuntime:
    def __init__(self, spec: AppSpec, partition: int, role: str = "active", slot: int = 0) -> None:
        self.spec = spec
        self.config = spec.config
        self.partition = partition
        self.role = role
        self.slot = slot
        self.tail: ChangelogTail | None = None
        self.globals: dict[str, GlobalReplica] = {}
        self._batch_lock = asyncio.Lock()  # batches, idle ticks and routed writes take turns
        self.batch_limit = self.config.max_batch_records
        self._warm: dict[str, Any] = {}  # Kafka clients started ahead of a promotion
        self.eos = self.config.processing_guarantee == "exactly_once"
        self.lifecycle = Lifecycle()
        self.bootstrap = self.config.bootstrap
        self.cores: dict[str, TablePartition] = {}
        self.binding = PartitionBinding(partition=partition, tables=dict(self.cores))
        self.counters: dict[str, int] = defaultdict(int)
        self.bad_samples: list[dict[str, Any]] = []
        self.committed: dict[TopicPartition, int] = {}
        self.recovery: dict[str, Any] = {}
        self._routes: dict[str, Route] = {}
        self._runners: dict[str, AgentRunner] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._clock = (0.0, time.time())  # (max event time, wall time it was seen)
        self.error: str | None = None
        self.first_batch_at: float | None = None  # wall time, for throughput measurements
        self.last_batch_at: float | None = None
        self.busy_seconds = 0.0  # time spent in batches: the autoscaler's processing-time signal

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> dict[str, Any]:
        """Opens and recovers the stores, then tails the changelog (standby) or consumes (active)."""
        tracing.configure(self.config.tracing, self.config.app, f"partition-{self.role}",
                          self.partition)
        self.lifecycle.to(PartitionState.RESTORING)
        self._open_stores()
        self.recovery = await recover_tables(self)
        if self.role == "standby":
            self.tail = ChangelogTail(self)
            await self.tail.start()
            self.lifecycle.to(PartitionState.STANDBY)
            return {"partition": self.partition, "role": self.role, "recovery": self.recovery}
        return await self._activate()

    async def promote(self) -> dict[str, Any]:
        """Standby to active: stop tailing, read the rest of the changelog, consume sources."""
        if self.role == "active":
            return {"partition": self.partition, "role": self.role, "recovery": self.recovery}
        started = time.monotonic()
        self.lifecycle.to(PartitionState.RESTORING)
        with tracing.span("standby.promote", {"raytables.partition": self.partition}):
            consumer = None
            if self.tail is not None:
                consumer = await self.tail.stop(keep_consumer=True)
                self.tail = None
            tail_stopped = time.monotonic()
            self.recovery = await recover_tables(self, consumer=consumer)
            recovered = time.monotonic()
            self.role = "active"
            info = await self._activate()
        info["promotion_seconds"] = round(time.monotonic() - started, 3)
        info["promotion_steps"] = {"tail_stop": round(tail_stopped - started, 3),
                                   "changelog": round(recovered - tail_stopped, 3),
                                   "activate": round(time.monotonic() - recovered, 3)}
        return info

    async def _activate(self) -> dict[str, Any]:
        for name, table in self.spec.tables.items():
            if table.is_global and name not in self.globals:
                replica = GlobalReplica.open(self, table, _value_codec(table), table.key_type)
                self.globals[name] = replica
                self.binding.tables[name] = replica.core
                self.recovery.setdefault("global", {})[name] = await replica.start()
        context.bind(self.binding)
        warm, self._warm = self._warm, {}
        self.producer = warm.get("producer") or await self._start_producer()
        self.consumer = warm.get("consumer") or await self._start_consumer()
        self.closer = CloseDispatcher(self)
        tps = []
        for agent in self.spec.agents:
            repartition = agent.repartition_topic(self.config.app)
            self._routes[agent.topic.name] = Route(agent, repartition)
            tps.append(TopicPartition(agent.topic.name, self.partition))
            if repartition is not None:
                self._routes[repartition] = Route(agent, None)
                tps.append(TopicPartition(repartition, self.partition))
            self._runners[agent.name] = AgentRunner(agent, self.binding, self._agent_failed)
        self.consumer.assign(tps)
        for tp in tps:
            committed = await self.consumer.committed(tp)
            if committed is not None:
                self.committed[tp] = committed
        self.lifecycle.to(PartitionState.ACTIVE)
        self._loop_task = asyncio.get_running_loop().create_task(self._run())
        return {"partition": self.partition, "role": self.role, "recovery": self.recovery}

    def _open_stores(self) -> None:
        for name, table in self.spec.tables.items():
            if table.is_global:
                continue  # replicated whole by GlobalReplica once active
            url = self.spec.store_url(table)
            path = None
            if not url.startswith("memory"):
                path = os.path.join(self.config.data_dir, self.config.app, name,
                                    f"p{self.partition}" + (f"-{self.slot}" if self.slot else ""))
                os.makedirs(os.path.dirname(path), exist_ok=True)
            store = open_store(url, path, table.options or None)
            self.cores[name] = TablePartition(
                name, self.partition, store, _value_codec(table), window=table.window,
                key_index=table.key_index, key_type=table.key_type)
            self.binding.tables[name] = self.cores[name]

    async def _start_producer(self) -> Any:
        if self.eos:
            # the same id for every incarnation of partition p: starting it fences the
            # previous producer, even one still running on an unreachable node
            producer = kafka_io.producer(
                self.bootstrap, transactional_id=self.transactional_id, enable_idempotence=True)
        else:
            producer = kafka_io.producer(self.bootstrap)
        await kafka_io.start_client(producer, self.bootstrap, self.config.broker_timeout)
        return producer

    async def _start_consumer(self) -> Any:
        consumer = kafka_io.consumer(self.bootstrap, group_id=self.config.app,
                                     fetch_max_wait_ms=self.config.fetch_max_wait_ms)
        await kafka_io.start_client(consumer, self.bootstrap, self.config.broker_timeout)
        return consumer

    async def warm_up(self) -> None:
        """A move's target starts its Kafka clients while it catches up, so the pause
        is only the changelog's last records and the committed offsets. Not the
        exactly-once producer: starting it would fence the active still running."""
        if self.role != "standby" or self._warm:
            return
        self._warm["consumer"] = await self._start_consumer()
        if not self.eos:
            self._warm["producer"] = await self._start_producer()

    async def prepare_handoff(self, handing_over: bool = True) -> None:
        """Small batches while a move is under way: its pause is the wait for the batch
        in progress, and a full batch under load takes a second or more. A move that
        is called off restores the full batches."""
        self.batch_limit = (min(self.config.max_batch_records, self.config.handoff_batch_records)
                            if handing_over else self.config.max_batch_records)

    async def stop(self) -> dict[str, Any]:
        """Finishes the batch in progress, flushes and commits, then closes everything."""
        if self.lifecycle.state in (PartitionState.CLOSED, PartitionState.STOPPING):
            return self.stats()
        self.lifecycle.to(PartitionState.STOPPING)
        self._stopping = True
        if self.tail is not None:
            await self.tail.stop()
        for replica in self.globals.values():
            await replica.stop()
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(self._loop_task, 30)
            except (asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001
                log.warning("partition %d: loop ended with %r while stopping", self.partition, exc)
        if hasattr(self, "closer"):
            await self.closer.drain(timeout=30)
            await self._flush({})
        for runner in self._runners.values():
            await runner.stop()
        for client in ("consumer", "producer"):
            if hasattr(self, client):
                await getattr(self, client).stop()
        for client in self._warm.values():
            await client.stop()
        for core in self.cores.values():
            core.store.close()
        context.bind(None)
        tracing.flush()
        self.lifecycle.to(PartitionState.CLOSED)
        return self.stats()

    # -- the loop ------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while not self._stopping:
                data = await self.consumer.getmany(
                    timeout_ms=100, max_records=self.batch_limit)
                async with self._batch_lock:
                    if data:
                        started = time.monotonic()
                        await self._process(data)
                        self.busy_seconds += time.monotonic() - started
                    else:
                        await self._idle_tick()
        except Exception as exc:
            self.error = repr(exc)
            log.exception("partition %d stopped on an error", self.partition)
            self.lifecycle.to(PartitionState.FAILED)
            raise

    async def _process(self, data: dict[TopicPartition, list[Any]]) -> None:
        if not tracing.enabled():
            return await self._process_batch(data)
        parent, links = tracing.batch_parent(r.headers for rs in data.values() for r in rs)
        attrs = {"raytables.partition": self.partition,
                 "messaging.batch.message_count": sum(len(rs) for rs in data.values()),
                 "messaging.kafka.topics": sorted({tp.topic for tp in data})}
        with tracing.span("partition.batch", attrs, parent=parent, links=links,
                          kind=tracing.SpanKind.CONSUMER):
            await self._process_batch(data)

    async def _process_batch(self, data: dict[TopicPartition, list[Any]]) -> None:
        offsets: dict[TopicPartition, int] = {}
        max_ts = self._clock[0]
        for tp, records in data.items():
            route = self._routes[tp.topic]
            events = self._decode(route.agent, tp, records)
            if events:
                max_ts = max(max_ts, max(e.timestamp for e in events))
                if route.forward_to is not None:
                    self._forward(route, events, records)
                else:
                    await self._runners[route.agent.name].run(events)
            offsets[tp] = records[-1].offset + 1
            self.counters["events"] += len(records)
        self.counters["batches"] += 1
        now = time.time()
        self._clock = (max_ts, now)
        self.first_batch_at = self.first_batch_at or now
        await self._close_windows()
        await self._flush(offsets)
        self.last_batch_at = time.time()

    def _decode(self, agent: Agent, tp: TopicPartition, records: list[Any]) -> list[Event]:
        codec = agent.topic.value_codec
        key_codec = agent.topic.key_codec
        try:
            values = codec.loads_many([r.value for r in records])
        except DecodeError:
            values = None
        events = []
        for i, r in enumerate(records):
            if values is None:
                try:
                    value = codec.loads(r.value)
                except Exception as exc:  # noqa: BLE001 - bad input never stops a partition
                    self._bad_input("decode", tp.topic, tp.partition, r.offset, exc, r.key, r.value)
                    continue
            else:
                value = values[i]
            key = r.key
            if key_codec is not None and key is not None:
                try:
                    key = key_codec.loads(key)
                except Exception as exc:  # noqa: BLE001
                    self._bad_input("decode", tp.topic, tp.partition, r.offset, exc, r.key, r.value)
                    continue
            events.append(Event(tp.topic, tp.partition, r.offset, r.timestamp / 1000.0, key,
                                value, tuple(r.headers or ())))
        return events

    def _forward(self, route: Route, events: list[Event], records: list[Any]) -> None:
        """group_by: re-key each event to the repartition topic, keeping its bytes."""
        group_by = route.agent.group_by
        assert group_by is not None and route.forward_to is not None
        raw = {r.offset: r.value for r in records}
        outbox = self.binding.outbox
        n = self.spec.partitions
        for ev in events:
            try:
                kb = encode_key(group_by.key_of(ev.value))
            except Exception as exc:  # noqa: BLE001
                self._bad_input("group_by", ev.topic, ev.partition, ev.offset, exc, None,
                                raw[ev.offset])
                continue
            outbox.append((route.forward_to, kb, raw[ev.offset], partition_for_bytes(kb, n),
                           ev.timestamp, tracing.with_traceparent(ev.headers)))

    async def _idle_tick(self) -> None:
        """Stream time follows the wall clock on an idle partition, so a lone last window closes."""
        max_ts, seen_at = self._clock
        idle = time.time() - seen_at - self.config.idle_advance_after
        if idle > 0 and max_ts > 0:
            self.binding.stream_time = max(self.binding.stream_time, max_ts + idle)
        await self._close_windows()
        if any(core.pending() for core in self.cores.values()) or self.binding.outbox:
            await self._flush({})

    async def _close_windows(self) -> None:
        for name, core in self.cores.items():
            table = self.spec.tables[name]
            if core.window is None or core.window.expires is None:
                continue
            now = time.time() if table.relative_to == "now" else self.binding.stream_time
            for closed in core.advance(now):
                if table.on_window_close is None:
                    core.forget([closed])
                else:
                    await self.closer.dispatch(table, closed)

    @property
    def transactional_id(self) -> str:
        return f"{self.config.app}-p{self.partition}"

    async def _flush(self, offsets: dict[TopicPartition, int]) -> None:
        """Changelogs and agent output in producer batches; offsets only after the acks.

        Under exactly_once the batch's changelog records, output records and
        source offsets commit in one Kafka transaction; any failure in it is
        fatal for this actor (its in-memory state is ahead of what committed),
        so it stops and its successor recovers the committed state.
        """
        if not tracing.enabled():
            return await self._commit_batch(offsets)
        with tracing.span("partition.flush", {"raytables.partition": self.partition,
                                              "raytables.offsets": len(offsets)}):
            await self._commit_batch(offsets)

    async def _commit_batch(self, offsets: dict[TopicPartition, int]) -> None:
        if not self.eos:
            return await self._write_batch(offsets)
        from aiokafka.errors import ProducerFenced

        try:
            await self.producer.begin_transaction()
            await self._write_batch(offsets)
        except ProducerFenced as exc:
            self.counters["fenced"] += 1
            raise PartitionFenced(
                f"partition {self.partition}: producer {self.transactional_id!r} was fenced by a "
                f"newer incarnation; this actor stops without committing ({exc!r})") from None
        except BaseException:
            try:
                await self.producer.abort_transaction()
            except Exception:  # noqa: BLE001 - the producer may be unusable by now
                pass
            raise

    async def _write_batch(self, offsets: dict[TopicPartition, int]) -> None:
        pending = []
        for name, core in self.cores.items():
            records = core.flush()
            if records:
                topic = self.spec.tables[name].changelog
                headers = tracing.with_traceparent(())
                sent = await self._send(topic, self.partition,
                                        [(r.key, r.value, None, headers) for r in records])
                pending.append((core, records, sent))
        for name, replica in self.globals.items():  # to the changelog partition of each key
            for r in replica.core.flush():
                self.binding.outbox.append((self.spec.tables[name].changelog, r.key, r.value,
                                            partition_for_bytes(r.key, self.spec.partitions),
                                            None, ()))
            replica.core.commit([], None)
        outbox = self.binding.outbox
        out_futures = []
        if outbox:
            self.binding.outbox = []
            by_dest: dict[tuple[str, int], list[Any]] = defaultdict(list)
            counts: dict[str, int] = {}  # partition count per destination, looked up once
            for topic, key, value, part, ts, headers in outbox:
                if part is None:
                    if topic not in counts:
                        counts[topic] = len(await self.producer.partitions_for(topic))
                    n = counts[topic]
                    part = partition_for_bytes(key, n) if key is not None else self.partition % n
                by_dest[(topic, part)].append((key, value, ts, headers))
            for (topic, part), items in by_dest.items():
                out_futures.extend(await self._send(topic, part, items))
            self.counters["records_sent"] += len(outbox)
        persisted = []
        for core, records, sent in pending:
            metas = await asyncio.gather(*(fut for fut, _ in sent))
            last = max(meta.offset + count - 1 for meta, (_, count) in zip(metas, sent))
            if self.eos:  # the store may only hold what the transaction commits
                persisted.append((core, records, last))
            else:
                core.commit(records, last)
            self.counters["changelog_records"] += len(records)
        if out_futures:
            await asyncio.gather(*(fut for fut, _ in out_futures))
        if self.eos:
            if offsets:
                await self.producer.send_offsets_to_transaction(offsets, self.config.app)
            await self.producer.commit_transaction()
            for core, records, last in persisted:
                core.commit(records, last)
        elif offsets:
            await self.consumer.commit(offsets)
        self.committed.update(offsets)

    async def _send(self, topic: str, partition: int,
                    items: list[tuple[Any, ...]]) -> list[tuple[asyncio.Future[Any], int]]:
        """Producer batch API: one send per full batch, not per record."""
        sent = []
        batch, count = self.producer.create_batch(), 0
        for item in items:
            key, value = item[0], item[1]
            ts = item[2] if len(item) > 2 else None
            headers = list(item[3]) if len(item) > 3 else []
            ts_ms = None if ts is None else int(ts * 1000)
            if batch.append(key=key, value=value, timestamp=ts_ms, headers=headers) is None:
                sent.append((await self.producer.send_batch(batch, topic, partition=partition), count))
                batch, count = self.producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=ts_ms, headers=headers)
            count += 1
        sent.append((await self.producer.send_batch(batch, topic, partition=partition), count))
        return sent

    # -- bad input -------------------------------------------------------------------
    def _agent_failed(self, agent: Agent, event: Event | None, exc: BaseException | None) -> None:
        if event is None:
            log.error("agent %s on partition %d ended (%r) before any event", agent.name,
                      self.partition, exc)
            return
        raw = agent.topic.value_codec.dumps(event.value)
        self._bad_input("agent", event.topic, event.partition, event.offset, exc, None, raw)

    def _bad_input(self, kind: str, topic: str, partition: int, offset: int,
                   exc: BaseException | None, key: bytes | None, value: bytes | None) -> None:
        self.counters[f"bad_{kind}"] += 1
        self.counters["bad_input"] += 1
        message = (f"skipped event at topic {topic!r} partition {partition} offset {offset}: "
                   f"{kind} failed with {exc!r}")
        log.warning(message)
        if len(self.bad_samples) < 100:
            self.bad_samples.append({"kind": kind, "topic": topic, "partition": partition,
                                     "offset": offset, "error": repr(exc)})
        dlq = self.config.dead_letter_topic
        if dlq:
            headers = (("raytables-error", repr(exc).encode()[:1000]),
                       ("raytables-source", f"{topic}/{partition}/{offset}".encode()))
            self.binding.outbox.append((dlq, key, value or b"", None, None, headers))

    # -- reads (and use_partitioner writes) for handles outside agents -----------------
    def _core(self, table: str) -> TablePartition:
        return self.binding.table(table)

    def table_get(self, table: str, key: Any) -> tuple[bool, Any]:
        missing = object()
        value = self._core(table).get(key, missing)
        return (False, None) if value is missing else (True, value)

    def table_items(self, table: str) -> list[tuple[Any, Any]]:
        return list(self._core(table).items())

    def table_len(self, table: str) -> int:
        return len(self._core(table))

    async def table_write(self, table: str, key: Any, value: Any, delete: bool) -> bool:
        """A write routed here from outside an agent; returns once it is in the changelog."""
        async with self._batch_lock:
            core = self._core(table)
            existed = core.contains(key)
            if delete:
                core.delete(key)
            else:
                core.set(key, value)
            await self._flush({})
            self.counters["routed_writes"] += 1
            return existed

    def window_read(self, table: str, key: Any, how: str, arg: Any) -> tuple[bool, Any]:
        window = self.spec.tables[table].window
        assert window is not None
        if how == "now":
            r = window.current(arg)
        elif how == "current":
            r = window.current(self.binding.stream_time)
        elif how == "delta":
            base, d = arg
            r = window.delta(self.binding.stream_time if base is None else base, d)
        else:
            r = arg
        return self.table_get(table, (key, r))

    # -- progress and stats -----------------------------------------------------------
    def notify_changelog(self, table: str, records: list[Any]) -> None:
        """`on_changelog_event(event)` for each record applied by recovery, a standby or a
        global replica (Faust calls it for the same records)."""
        spec = self.spec.tables[table]
        callback = spec.on_changelog_event
        if callback is None:
            return
        codec = _value_codec(spec)
        decode = self._core(table)._decode_key
        for r in records:
            callback(Event(r.topic, r.partition, r.offset, r.timestamp / 1000.0, decode(r.key),
                           None if r.value is None else codec.loads(r.value),
                           tuple(r.headers or ())))
            self.counters["changelog_events"] += 1

    async def progress(self) -> dict[str, Any]:
        """Lag by committed offsets: zero only once every fetched event is committed.

        A standby reports how far its stores are behind the changelogs instead.
        """
        base = {"partition": self.partition, "role": self.role, "slot": self.slot,
                "state": self.lifecycle.state.value, "node_id": _node_id(), "error": self.error}
        if self.tail is not None:
            lag = await self.tail.lag()
            return {**base, "lag": {}, "total_lag": 0, "changelog_lag": lag,
                    "in_flight_closes": 0, "error": self.error or self.tail.error}
        tps = list(self.consumer.assignment()) if hasattr(self, "consumer") else []
        ends = await self.consumer.end_offsets(tps) if tps else {}
        lag = {f"{tp.topic}/{tp.partition}": ends[tp] - self.committed.get(tp, 0) for tp in tps}
        return {**base, "lag": lag, "total_lag": sum(lag.values()),
                "busy_seconds": self.busy_seconds,
                "in_flight_closes": self.closer.in_flight if hasattr(self, "closer") else 0}

    def stats(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "role": self.role,
            "slot": self.slot,
            "state": self.lifecycle.state.value,
            "pid": os.getpid(),
            "node_id": _node_id(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "first_batch_at": self.first_batch_at,
            "last_batch_at": self.last_batch_at,
            "counters": dict(self.counters),
            "bad_samples": list(self.bad_samples[-10:]),
            "stream_time": self.binding.stream_time,
            "tables": {} if self.lifecycle.state == PartitionState.CLOSED else {
                name: {"keys": len(core.store), "open_windows": core.open_window_count(),
                       "store": type(core.store).__name__,
                       "store_options": dict(getattr(core.store, "options", {}) or {}),
                       "help": self.spec.tables[name].help,
                       "late_events": core.late_events,
                       "last_closed_window": core.last_closed_window,
                       "changelog_offset": core.changelog_offset,
                       "store_bytes": core.store.approximate_size_bytes()}
                for name, core in self.cores.items()
            },
            "closes": self.closer.stats() if hasattr(self, "closer") else {},
            "recovery": self.recovery,
            "error": self.error,
        }


def _node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside Ray (unit tests)
        return None


def _value_codec(table: Any) -> Any:
    from cluster.codecs import codec_for

    return codec_for(table.value_type)
