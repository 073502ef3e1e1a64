"""Topics: names, partition counts and codecs of what agents consume and send."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cluster import context
from cluster.codecs import Codec, codec_for


@dataclass
class Topic:
    """A Kafka topic as the app sees it (Faust `app.topic`)."""

    name: str
    value_type: Any = None
    key_type: Any = None
    partitions: int | None = None
    config: dict[str, str] = field(default_factory=dict)
    app: str = ""
    broker: str = ""

    @property
    def value_codec(self) -> Codec:
        return codec_for(self.value_type)

    @property
    def key_codec(self) -> Codec | None:
        """None keeps keys as raw bytes (Faust's default key serializer is raw)."""
        return None if self.key_type is None else codec_for(self.key_type)

    def encode_key(self, key: Any) -> bytes | None:
        if key is None or isinstance(key, bytes):
            return key
        codec = self.key_codec
        return codec.dumps(key) if codec is not None else codec_for(None).dumps(key)

    async def send(self, key: Any = None, value: Any = None, *, partition: int | None = None,
                   timestamp: float | None = None,
                   headers: Iterable[tuple[str, bytes]] | None = None) -> None:
        """Inside an agent the record joins the batch's output (written with the
        changelog, before offsets are committed); elsewhere it is produced now."""
        from cluster import tracing

        record = (self.encode_key(key), self.value_codec.dumps(value), partition, timestamp,
                  tracing.with_traceparent(headers or ()))
        binding = context.local()
        if binding is not None:
            binding.outbox.append((self.name, *record))
            return
        await produce(self.broker, self.name, [record])

    def send_many(self, records: Iterable[tuple[Any, Any] | dict[str, Any]]) -> int:
        """Produces (key, value) pairs from a script, in batches; returns the count."""
        encoded = []
        for rec in records:
            if isinstance(rec, dict):
                rec = (rec.get("key"), rec["value"], rec.get("partition"), rec.get("timestamp"))
            key, value, *rest = rec
            partition = rest[0] if rest else None
            timestamp = rest[1] if len(rest) > 1 else None
            encoded.append((self.encode_key(key), self.value_codec.dumps(value), partition,
                            timestamp, ()))
        asyncio.run(produce(self.broker, self.name, encoded))
        return len(encoded)


async def produce(broker: str, topic: str,
                  records: list[tuple[bytes | None, bytes, int | None, float | None, tuple]]) -> None:
    """Batch produce with the key's default partitioner where no partition is given."""
    from aiokafka import AIOKafkaProducer

    from cluster.partitioner import partition_for_bytes

    producer = AIOKafkaProducer(bootstrap_servers=broker, max_batch_size=1 << 20, linger_ms=5)
    await producer.start()
    try:
        n = len(await producer.partitions_for(topic))
        by_partition: dict[int, list] = {}
        for i, (key, value, partition, ts, headers) in enumerate(records):
            if partition is None:  # keyed: Kafka's default partitioner; unkeyed: round robin
                partition = partition_for_bytes(key, n) if key is not None else i % n
            by_partition.setdefault(partition, []).append((key, value, ts, headers))
        futures = []
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            for key, value, ts, headers in items:
                ts_ms = None if ts is None else int(ts * 1000)
                if batch.append(key=key, value=value, timestamp=ts_ms, headers=list(headers)) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=ts_ms, headers=list(headers))
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
