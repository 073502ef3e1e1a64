"""Reading topics back in tests: what landed in a changelog, what a group committed;
and forgetting an app whose topic names are fixed (the examples)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CoordinatorNotAvailableError

from actors.kafka_io import describe


async def _read(bootstrap: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        parts = range((await describe(bootstrap, [topic]))[topic])
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Any] = []
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                out.extend(batch.get(tp, []))
        return out
    finally:
        await consumer.stop()


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    return asyncio.run(asyncio.wait_for(_read(bootstrap, topic), 60))


def changelog_state(bootstrap: str, topic: str) -> dict[Any, Any]:
    """Last value per key, tombstones removing it: what a restore would rebuild."""
    state: dict[Any, Any] = {}
    for r in read_topic(bootstrap, topic):
        key = json.loads(r.key)
        key = (key[0], tuple(key[1])) if isinstance(key, list) else key
        key = tuple(sorted(key.items())) if isinstance(key, dict) else key  # model keys
        if r.value is None:
            state.pop(key, None)
        else:
            state[key] = json.loads(r.value)
    return state


async def _committed(bootstrap: str, group: str, topic: str) -> tuple[dict[int, int | None], dict[int, int]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        parts = range((await describe(bootstrap, [topic]))[topic])
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        return ({tp.partition: await consumer.committed(tp) for tp in tps},
                {tp.partition: ends[tp] for tp in tps})
    finally:
        await consumer.stop()


def committed_and_end(bootstrap: str, group: str, topic: str) -> tuple[dict, dict]:
    return asyncio.run(asyncio.wait_for(_committed(bootstrap, group, topic), 60))


async def _forget_app(bootstrap: str, app: str, topics: set[str], timeout: float) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t in topics or t.startswith(f"{app}-")]
        if not doomed:
            return doomed
        await admin.delete_topics(doomed)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                # the group coordinator drops the offsets of deleted topics on its own
                committed = {tp.topic for tp in await admin.list_consumer_group_offsets(app)}
            except CoordinatorNotAvailableError:  # still loading: ask again
                committed = set(doomed)
            left = set(doomed) & (set(await admin.list_topics()) | committed)
            if not left:
                return doomed
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"still there {timeout}s after deleting them: {sorted(left)}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def forget_app(bootstrap: str, app: str, topics: set[str], timeout: float = 30) -> list[str]:
    """Deletes an app's topics (its own, the `{app}-` ones: changelogs, repartitions) and
    so its committed offsets.

    The examples' app and topic names are fixed: on the session's one broker a
    second run would restore the first run's tables and count on from there.
    """
    return asyncio.run(_forget_app(bootstrap, app, topics, timeout))
