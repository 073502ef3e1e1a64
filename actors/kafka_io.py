"""Kafka plumbing the actors and the driver share: admin checks and client setup.

All aiokafka errors that mean "the broker is not there" are translated here
into BrokerUnavailable with the address, so nobody matches message text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from cluster.config import bootstrap_of  # noqa: F401 - re-exported for the actors
from cluster.errors import BrokerUnavailable, ConfigError, PartitionCountMismatch


@dataclass(frozen=True)
class TopicWant:
    name: str
    partitions: int | None  # None: must exist, any count (checked by the caller)
    configs: Mapping[str, str]
    role: str  # "source", "changelog", "repartition": named in errors


async def _admin(bootstrap: str, timeout: float) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
    except (KafkaConnectionError, asyncio.TimeoutError, OSError) as exc:
        await admin.close()
        raise BrokerUnavailable(
            f"Kafka broker at {bootstrap} did not answer within {timeout:.0f}s ({exc!r}); "
            f"start it (deploy/kafka.sh start) or fix broker= in cluster.init()"
        ) from None
    return admin


async def describe(bootstrap: str, names: list[str], timeout: float = 15.0) -> dict[str, int]:
    """Partition counts of the topics that exist among `names`."""
    admin = await _admin(bootstrap, timeout)
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in names if n in existing]
        if not wanted:
            return {}
        meta = await admin.describe_topics(wanted)
        return {m["topic"]: len(m["partitions"]) for m in meta}
    finally:
        await admin.close()


async def topic_configs(bootstrap: str, name: str, timeout: float = 15.0) -> dict[str, str]:
    admin = await _admin(bootstrap, timeout)
    try:
        [resp] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        return {e[0]: e[1] for e in resp.resources[0][4]}
    finally:
        await admin.close()


async def ensure_topics(bootstrap: str, wants: list[TopicWant], timeout: float = 15.0) -> dict[str, int]:
    """Creates what is missing; refuses an existing topic with the wrong partition count."""
    counts = await describe(bootstrap, [w.name for w in wants], timeout)
    missing = [w for w in wants if w.name not in counts]
    for w in wants:
        have = counts.get(w.name)
        if have is not None and w.partitions is not None and have != w.partitions:
            raise PartitionCountMismatch(
                f"{w.role} topic {w.name!r} has {have} partitions but the app needs "
                f"{w.partitions}: tables are co-partitioned with their source topics. "
                f"Recreate the topic with {w.partitions} partitions or declare partitions={have}."
            )
    if missing:
        admin = await _admin(bootstrap, timeout)
        try:
            for w in missing:
                if w.partitions is None:
                    raise ConfigError(f"{w.role} topic {w.name!r} does not exist and its "
                                      f"partition count is unknown: pass partitions=")
                try:
                    response = await admin.create_topics([NewTopic(w.name, w.partitions, 1,
                                                                   topic_configs=dict(w.configs))])
                except TopicAlreadyExistsError:
                    continue
                for result in response.topic_errors:
                    name, code, message = result[0], result[1], result[2] if len(result) > 2 else ""
                    if code not in (0, TopicAlreadyExistsError.errno):
                        raise ConfigError(
                            f"the broker refused to create {w.role} topic {name!r} with "
                            f"{w.partitions} partitions and configs {dict(w.configs)}: error "
                            f"{code} {message or ''}".rstrip())
                counts[w.name] = w.partitions
            await _wait_for_leaders(admin, [w.name for w in missing], timeout)
        finally:
            await admin.close()
    return counts


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout: float) -> None:
    """New topics answer offset requests only once each partition has a leader."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        meta = await admin.describe_topics(names)
        if all(m["error_code"] == 0 and m["partitions"]
               and all(p["leader"] >= 0 for p in m["partitions"]) for m in meta):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise ConfigError(f"topics {names} have no partition leaders after {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def offsets(consumer: AIOKafkaConsumer, tps: list[Any], which: str,
                  timeout: float = 30.0) -> dict[Any, int]:
    """end_offsets / beginning_offsets, retried while metadata is still settling."""
    from aiokafka.errors import KafkaTimeoutError, StaleMetadata

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await getattr(consumer, which)(tps)
        except (StaleMetadata, KafkaTimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


def producer(bootstrap: str, **kwargs: Any) -> AIOKafkaProducer:
    kwargs.setdefault("max_batch_size", 1 << 20)
    kwargs.setdefault("linger_ms", 2)
    kwargs.setdefault("acks", "all")
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **kwargs)


def consumer(bootstrap: str, **kwargs: Any) -> AIOKafkaConsumer:
    kwargs.setdefault("enable_auto_commit", False)
    kwargs.setdefault("auto_offset_reset", "earliest")
    kwargs.setdefault("fetch_max_wait_ms", 20)
    kwargs.setdefault("max_partition_fetch_bytes", 4 << 20)
    kwargs.setdefault("isolation_level", "read_committed")
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, **kwargs)


async def start_client(client: Any, bootstrap: str, timeout: float) -> None:
    try:
        await asyncio.wait_for(client.start(), timeout)
    except (KafkaError, asyncio.TimeoutError, OSError) as exc:
        try:
            await client.stop()
        except Exception:
            pass
        raise BrokerUnavailable(f"Kafka broker at {bootstrap} did not answer within "
                                f"{timeout:.0f}s ({exc!r})") from None
