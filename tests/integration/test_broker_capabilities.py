"""What later features rely on, proved against the real broker through aiokafka."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

pytestmark = pytest.mark.integration


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _create(bootstrap: str, *topics: NewTopic) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(list(topics))
    finally:
        await admin.close()


async def _topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [resp] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(_err, _msg, _type, _name, entries)] = resp.resources
        return {e[0]: e[1] for e in entries}
    finally:
        await admin.close()


async def _read_all(bootstrap: str, tp: TopicPartition, **consumer_kwargs) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                **consumer_kwargs)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        records = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            records.extend(batch.get(tp, []))
        return records
    finally:
        await consumer.stop()


@pytest.mark.parametrize("policy", ["compact", "compact,delete"])
def test_create_topic_with_cleanup_policy(bootstrap: str, topic_name: str, policy: str) -> None:
    async def go():
        await _create(bootstrap, NewTopic(topic_name, 3, 1, topic_configs={
            "cleanup.policy": policy, "retention.ms": "7200000"}))
        return await _topic_config(bootstrap, topic_name)

    config = run(go())
    assert config["cleanup.policy"] == policy
    assert config["retention.ms"] == "7200000"


def test_keyed_records_with_headers_round_trip(bootstrap: str, topic_name: str) -> None:
    async def go():
        await _create(bootstrap, NewTopic(topic_name, 2, 1))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            batch = producer.create_batch()
            for i in range(5):
                batch.append(key=f"k{i}".encode(), value=f"{i}".encode(), timestamp=None,
                             headers=[("traceparent", b"00-abc-def-01")])
            await (await producer.send_batch(batch, topic_name, partition=1))
        finally:
            await producer.stop()
        return await _read_all(bootstrap, TopicPartition(topic_name, 1))

    records = run(go())
    assert [(r.key, r.value) for r in records] == [(f"k{i}".encode(), f"{i}".encode())
                                                  for i in range(5)]
    assert all(r.headers == (("traceparent", b"00-abc-def-01"),) for r in records)


def test_group_offsets_with_manual_assignment(bootstrap: str, topic_name: str) -> None:
    group = f"app-{topic_name}"

    async def go():
        await _create(bootstrap, NewTopic(topic_name, 2, 1))
        tp = TopicPartition(topic_name, 1)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp])  # manual assignment: no group rebalancing
            await consumer.commit({tp: 42})
        finally:
            await consumer.stop()
        reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                  enable_auto_commit=False)
        await reader.start()
        try:
            reader.assign([tp])
            return await reader.committed(tp), await reader.committed(TopicPartition(topic_name, 0))
        finally:
            await reader.stop()

    assert run(go()) == (42, None)


def test_transaction_commits_records_and_offsets_atomically(bootstrap: str, topic_name: str) -> None:
    out, src, group = f"{topic_name}-out", f"{topic_name}-src", f"grp-{topic_name}"

    async def go():
        await _create(bootstrap, NewTopic(out, 1, 1), NewTopic(src, 1, 1))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap,
                                    transactional_id=f"tx-{topic_name}")
        await producer.start()
        try:
            async with producer.transaction():
                await producer.send(out, b"committed-1", key=b"k", partition=0)
                await producer.send_offsets_to_transaction({TopicPartition(src, 0): 7}, group)
            await producer.begin_transaction()
            await producer.send(out, b"aborted", key=b"k", partition=0)
            await producer.abort_transaction()
            async with producer.transaction():
                await producer.send(out, b"committed-2", key=b"k", partition=0)
        finally:
            await producer.stop()
        committed = await _read_all(bootstrap, TopicPartition(out, 0),
                                    isolation_level="read_committed")
        everything = await _read_all(bootstrap, TopicPartition(out, 0),
                                     isolation_level="read_uncommitted")
        reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                  enable_auto_commit=False)
        await reader.start()
        try:
            reader.assign([TopicPartition(src, 0)])
            offset = await reader.committed(TopicPartition(src, 0))
        finally:
            await reader.stop()
        return committed, everything, offset

    committed, everything, offset = run(go())
    assert [r.value for r in committed] == [b"committed-1", b"committed-2"]
    assert b"aborted" in [r.value for r in everything]
    assert offset == 7
