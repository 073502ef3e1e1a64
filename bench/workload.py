"""The benchmark workload: N keyed JSON events on one 8-partition topic.

Every peer (our runtime, the plain-aiokafka ceiling, Faust, Quix Streams) reads
the same topic and computes the same two tables, so their events/s compare:

* a plain count per key, and
* a tumbling 10 s count per (key, window start), windowed on event time.

The event stream is a pure function of ``(n_events, n_keys, seed, base_ms)``
(see :func:`generate_events`), so :func:`reference_counts` can recompute the
exact expected tables and each peer's output can be checked, not just timed.

Design choices, and why:

* Event times are integer milliseconds, non-decreasing in production order
  (hence within each partition). Quix Streams drops records that arrive after
  their window has closed (grace 0 by default), so out-of-order times would
  make its counts differ from the reference for a reason that has nothing to
  do with throughput. Integer ms also make window starts exact: no float
  rounding at window edges.
* Times are anchored at "now" minus a margin: Kafka 4.x rejects record
  timestamps more than one hour in the future
  (``log.message.timestamp.after.max.ms``) and old ones would fall outside
  retention in long-lived brokers.
* The record's Kafka timestamp is the event time, so peers that window on the
  record timestamp (Faust ``relative_to_stream()``, Quix by default) see the
  same time as peers that read ``ts`` from the JSON body.
* The partition is chosen by us as ``zlib.crc32(key_bytes) % partitions``
  (not Kafka's murmur2): every event of a key lands in one partition, which is
  all the consumers rely on; none of them re-partitions.
* Production uses aiokafka's batch API (``create_batch()``/``send_batch()``),
  one open batch per partition: ~10x faster than one ``send()`` per record.

Runs in the main venv; needs only aiokafka.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

WINDOW_S = 10
"""Tumbling window size of the benchmark's windowed table, in seconds."""

DEFAULT_SPAN_S = 100.0
"""How much event time the N events cover."""

_PAST_MARGIN_MS = 300_000
"""The last event time is this far before "now" (always accepted by the broker)."""


@dataclass(frozen=True)
class WorkloadSpec:
    """Everything needed to regenerate a produced topic's events exactly."""

    topic: str
    n_events: int
    n_keys: int = 1000
    partitions: int = 8
    seed: int = 0
    base_ms: int = 0
    span_ms: int = int(DEFAULT_SPAN_S * 1000)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> WorkloadSpec:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def key_name(i: int) -> str:
    """The key string of key number ``i`` (``k0`` .. ``k{n_keys-1}``)."""
    return f"k{i}"


def partition_for(key: bytes, partitions: int) -> int:
    """Partition of a key: ``crc32(key) % partitions`` (documented choice)."""
    return zlib.crc32(key) % partitions


def window_start_s(ts_ms: int, window_s: int = WINDOW_S) -> int:
    """Start (whole seconds) of the tumbling window holding ``ts_ms``."""
    size_ms = window_s * 1000
    return (ts_ms - ts_ms % size_ms) // 1000


def aligned_base_ms(span_ms: int, now_s: float | None = None) -> int:
    """A recent base time, aligned to a window edge, that ends in the past."""
    now_ms = int((time.time() if now_s is None else now_s) * 1000)
    base = now_ms - _PAST_MARGIN_MS - span_ms
    size_ms = WINDOW_S * 1000
    return base - base % size_ms


def generate_events(spec: WorkloadSpec) -> Iterator[tuple[str, int]]:
    """Yield ``(key, ts_ms)`` in production order; deterministic for a spec.

    Keys are drawn uniformly from ``n_keys`` with a seeded RNG; times step
    evenly through ``[base_ms, base_ms + span_ms)`` so they never decrease.
    """
    rng = random.Random(spec.seed)
    n, span, base, n_keys = spec.n_events, spec.span_ms, spec.base_ms, spec.n_keys
    randrange = rng.randrange
    for i in range(n):
        yield key_name(randrange(n_keys)), base + (span * i) // n


def encode_event(key: str, ts_ms: int) -> bytes:
    """The JSON value of one event: ``{"key": ..., "ts": seconds, "value": 1}``."""
    # Same bytes as json.dumps({"key": key, "ts": ts_ms / 1000, "value": 1})
    # (keys are plain ASCII), at a third of the cost.
    return f'{{"key": "{key}", "ts": {ts_ms / 1000!r}, "value": 1}}'.encode()


async def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resp = await admin.create_topics(
            [NewTopic(name=topic, num_partitions=partitions, replication_factor=1)]
        )
    finally:
        await admin.close()
    # aiokafka returns per-topic errors instead of raising (36 = already exists).
    for name, code, *rest in resp.topic_errors:
        if code:
            raise RuntimeError(f"creating topic {name!r} failed: error {code} {rest}")


async def _produce(spec: WorkloadSpec, bootstrap: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=0,
        max_batch_size=512 * 1024,
        max_request_size=1024 * 1024,
    )
    await producer.start()
    try:
        # Let metadata for the new topic settle before the first send_batch.
        await producer.client.force_metadata_update()
        batches = [producer.create_batch() for _ in range(spec.partitions)]
        pending: list[asyncio.Future] = []
        key_cache: dict[str, tuple[bytes, int]] = {}
        for key, ts_ms in generate_events(spec):
            kb_part = key_cache.get(key)
            if kb_part is None:
                kb = key.encode()
                kb_part = key_cache[key] = (kb, partition_for(kb, spec.partitions))
            kb, p = kb_part
            value = encode_event(key, ts_ms)
            if batches[p].append(key=kb, value=value, timestamp=ts_ms) is None:
                # Batch full: ship it (the accumulator keeps per-partition
                # order: a batch waits for the previous one of its partition).
                pending.append(await producer.send_batch(batches[p], spec.topic, partition=p))
                batches[p] = producer.create_batch()
                if batches[p].append(key=kb, value=value, timestamp=ts_ms) is None:
                    raise RuntimeError("event larger than an empty batch")
        for p, batch in enumerate(batches):
            if batch.record_count():
                pending.append(await producer.send_batch(batch, spec.topic, partition=p))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def produce_workload(
    bootstrap: str,
    topic: str,
    n_events: int,
    n_keys: int = 1000,
    partitions: int = 8,
    seed: int = 0,
    span_s: float = DEFAULT_SPAN_S,
) -> dict:
    """Create ``topic`` and fill it with the workload; return its spec + timing.

    The returned dict is :class:`WorkloadSpec` as a dict (pass it to
    :func:`reference_counts`) plus ``produce_seconds`` and
    ``produce_events_per_s``. The topic must not exist yet: a fresh topic per
    run keeps the event count exact.
    """
    spec = WorkloadSpec(
        topic=topic,
        n_events=n_events,
        n_keys=n_keys,
        partitions=partitions,
        seed=seed,
        span_ms=int(span_s * 1000),
        base_ms=aligned_base_ms(int(span_s * 1000)),
    )

    async def main() -> float:
        await _create_topic(bootstrap, topic, partitions)
        t0 = time.perf_counter()
        await _produce(spec, bootstrap)
        return time.perf_counter() - t0

    seconds = asyncio.run(main())
    return {
        **spec.to_dict(),
        "produce_seconds": round(seconds, 3),
        "produce_events_per_s": round(n_events / seconds) if seconds else None,
    }


def reference_counts(
    spec: WorkloadSpec | dict,
) -> tuple[dict[str, int], dict[tuple[str, int], int]]:
    """The exact expected tables for a produced workload.

    Returns ``(per_key, per_window)``: ``per_key[key]`` is the total count and
    ``per_window[(key, window_start_s)]`` the tumbling-10 s count, window
    starts in whole epoch seconds.
    """
    if isinstance(spec, dict):
        spec = WorkloadSpec.from_dict(spec)
    per_key: Counter[str] = Counter()
    per_window: Counter[tuple[str, int]] = Counter()
    for key, ts_ms in generate_events(spec):
        per_key[key] += 1
        per_window[(key, window_start_s(ts_ms))] += 1
    return dict(per_key), dict(per_window)


def _differing(expected: dict, got: dict) -> list:
    return [k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k)]


def check_counts(
    spec: WorkloadSpec | dict,
    per_key: dict[str, int],
    per_window: dict[tuple[str, int], int],
) -> dict:
    """Compare a peer's tables with :func:`reference_counts`.

    Returns ``{"ok": bool, "keys": n, "windows": n, "key_mismatches": n,
    "window_mismatches": n, "examples": [...]}`` so a runner can print one
    check line per peer.
    """
    ref_key, ref_win = reference_counts(spec)
    bad_keys = _differing(ref_key, per_key)
    bad_wins = _differing(ref_win, per_window)
    examples = [
        {"key": k, "expected": ref_key.get(k), "got": per_key.get(k)} for k in bad_keys[:3]
    ] + [
        {"window": list(k), "expected": ref_win.get(k), "got": per_window.get(k)}
        for k in bad_wins[:3]
    ]
    return {
        "ok": not bad_keys and not bad_wins,
        "keys": len(ref_key),
        "windows": len(ref_win),
        "key_mismatches": len(bad_keys),
        "window_mismatches": len(bad_wins),
        "examples": examples,
    }
