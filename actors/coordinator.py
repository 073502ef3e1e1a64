"""The app's coordinator: creates one partition actor per partition, keeps them
alive, and publishes who owns which partition so handles can route.

Its loop is level-triggered: observe each partition's health, recreate what
is dead (the new actor recovers its state from the store and the changelog),
publish the assignment. Every public call is idempotent, and the loop never
dies on one error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import cloudpickle

from actors.peers import PartitionPeer
from cluster.config import AppSpec

log = logging.getLogger("raytables.coordinator")


class CoordinatorRuntime:
    def __init__(self, spec_bytes: bytes, partition_actor_factory: Any) -> None:
        self.spec_bytes = spec_bytes
        self.spec: AppSpec = cloudpickle.loads(spec_bytes)
        self.config = self.spec.config
        self._factory = partition_actor_factory
        self.peers: dict[int, PartitionPeer] = {}
        self.version = 0
        self.events: list[dict[str, Any]] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    def _record(self, kind: str, **details: Any) -> None:
        entry = {"at": time.time(), "event": kind, **details}
        self.events.append(entry)
        del self.events[:-200]
        log.info("coordinator: %s %s", kind, details)

    def _create(self, partition: int) -> PartitionPeer:
        name = self.config.partition_actor_name(partition)
        handle = self._factory(name, self.config, self.spec_bytes, partition)
        return PartitionPeer(partition, name, handle)

    async def start(self) -> dict[str, Any]:
        """Returns once every partition has recovered and is consuming."""
        if self._loop_task is not None:
            return self.assignment()
        self.spec.partitions = await prepare_topics(self.spec)
        self.spec_bytes = cloudpickle.dumps(self.spec)
        for p in range(self.spec.partitions):
            self.peers[p] = self._create(p)
        results = await asyncio.gather(
            *(peer.start(self.config.start_timeout) for peer in self.peers.values()),
            return_exceptions=True)
        failed = {p: r for p, r in zip(self.peers, results) if isinstance(r, BaseException)}
        if failed:
            for peer in self.peers.values():
                peer.kill()
            details = "; ".join(f"partition {p}: {r!r}" for p, r in failed.items())
            raise RuntimeError(f"app {self.config.app!r} failed to start: {details}")
        self.version += 1
        self._record("assigned", partitions=self.spec.partitions)
        self._loop_task = asyncio.get_running_loop().create_task(self._reconcile_forever())
        return self.assignment()

    def assignment(self) -> dict[str, Any]:
        return {"version": self.version, "partitions": self.spec.partitions,
                "owners": {p: peer.handle for p, peer in self.peers.items()}}

    async def _reconcile_forever(self) -> None:
        while not self._stopping:
            try:
                await self.reconcile()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad step
                log.exception("coordinator reconcile step failed")
            await asyncio.sleep(0.5)

    async def reconcile(self) -> None:
        """Observe health; replace every dead partition actor; publish the new owners."""
        peers = list(self.peers.values())
        health = await asyncio.gather(*(peer.healthy() for peer in peers))
        for peer, ok in zip(peers, health):
            if ok or self._stopping:
                continue
            self._record("partition_dead", partition=peer.partition, error=peer.last_error)
            peer.kill()
            replacement = self._create(peer.partition)
            replacement.restarts = peer.restarts + 1
            deadline = time.monotonic() + self.config.start_timeout
            while True:
                try:
                    await replacement.start(self.config.start_timeout)
                    break
                except Exception as exc:  # noqa: BLE001 - e.g. the old store still locked
                    if time.monotonic() > deadline:
                        raise
                    log.warning("restart of partition %d failed (%r), retrying",
                                peer.partition, exc)
                    replacement.kill()
                    await asyncio.sleep(1.0)
                    replacement = self._create(peer.partition)
                    replacement.restarts = peer.restarts + 1
            self.peers[peer.partition] = replacement
            self.version += 1
            self._record("partition_restarted", partition=peer.partition,
                         recovery=replacement.info.get("recovery"))

    async def progress(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(p.call("progress") for p in self.peers.values())))

    async def stats(self) -> dict[str, Any]:
        parts = await asyncio.gather(*(p.call("stats") for p in self.peers.values()),
                                     return_exceptions=True)
        return {
            "app": self.config.app,
            "version": self.version,
            "partitions": {p: (r if not isinstance(r, BaseException) else {"error": repr(r)})
                           for p, r in zip(self.peers, parts)},
            "restarts": {p: peer.restarts for p, peer in self.peers.items()},
            "events": self.events[-50:],
        }

    async def stop(self) -> dict[str, Any]:
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
        results = await asyncio.gather(*(p.call("stop") for p in self.peers.values()),
                                       return_exceptions=True)
        for peer in self.peers.values():
            peer.kill()
        return {p: (r if not isinstance(r, BaseException) else {"error": repr(r)})
                for p, r in zip(self.peers, results)}


async def prepare_topics(spec: AppSpec) -> int:
    """Creates the app's topics and decides its partition count, or refuses with both counts.

    Sources define the count (tables are co-partitioned with them); changelog
    and repartition topics are created with it, and an existing one with
    another count is refused rather than silently misrouted.
    """
    from actors.kafka_io import TopicWant, describe, ensure_topics
    from cluster.errors import ConfigError, PartitionCountMismatch

    config = spec.config
    bootstrap = config.bootstrap
    sources = {a.topic.name: a.topic for a in spec.agents}
    have = await describe(bootstrap, list(sources), config.broker_timeout)
    counts: dict[str, int] = {}
    for name, topic in sources.items():
        if name in have:
            if topic.partitions is not None and topic.partitions != have[name]:
                raise PartitionCountMismatch(
                    f"source topic {name!r} has {have[name]} partitions but was declared with "
                    f"partitions={topic.partitions}: fix the declaration or recreate the topic")
            counts[name] = have[name]
        elif topic.partitions is not None:
            counts[name] = topic.partitions
        else:
            raise ConfigError(f"source topic {name!r} does not exist: create it or declare "
                              f"cluster.topic({name!r}, partitions=N)")
    distinct = sorted(set(counts.values()))
    if len(distinct) > 1:
        raise PartitionCountMismatch(
            "source topics disagree on partition count ("
            + ", ".join(f"{n!r}: {c}" for n, c in counts.items())
            + "): every table is co-partitioned with every source, so they must match")
    n = distinct[0] if distinct else max([t.partitions or 0 for t in spec.tables.values()] + [1])
    for table in spec.tables.values():
        if table.partitions is not None and table.partitions != n:
            raise PartitionCountMismatch(
                f"table {table.name!r} declares partitions={table.partitions} but its source "
                f"topics have {n}: tables are co-partitioned with their sources")
    wants = [TopicWant(name, counts[name], sources[name].config, "source") for name in sources]
    wants += [TopicWant(t.changelog, n, t.topic_configs(), "changelog")
              for t in spec.tables.values()]
    wants += [TopicWant(rp, n, {}, "repartition") for a in spec.agents
              if (rp := a.repartition_topic(config.app)) is not None]
    if config.dead_letter_topic:
        wants.append(TopicWant(config.dead_letter_topic, None if config.dead_letter_topic in have
                               else 1, {}, "dead-letter"))
    await ensure_topics(bootstrap, wants, config.broker_timeout)
    return n
