"""The ceiling peer: the least work one Python process can do for the workload.

One aiokafka consumer, manual assignment of every partition, ``getmany()``,
``json.loads`` and two dict updates per event (count per key, tumbling 10 s
count per (key, window start)). No framework, no state store, no changelog,
no offset commits: whatever a real stream processor does on one core comes on
top of this, so it bounds what one process can reach.

``fetch_max_wait_ms`` is small (20 ms): aiokafka keeps one fetch in flight per
broker and only asks for partitions whose buffer is empty, so with the 500 ms
default a consumer owning 8 partitions stalls each time one partition drains.

Runs in the main venv::

    .venv/bin/python -m bench.peers.ceiling --bootstrap 127.0.0.1:PORT \\
        --topic TOPIC --events 200000 [--dump tables.json]
"""

from __future__ import annotations

import asyncio
import json
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.peers.common import (
    arm_hard_timeout,
    dump_tables,
    emit_result,
    parse_args,
    result_line,
)

WINDOW_MS = 10_000


async def consume_and_count(
    bootstrap: str, topic: str, n_events: int, fetch_max_wait_ms: int = 20
) -> tuple[float, dict[str, int], dict[tuple[str, int], int]]:
    """Consume until ``n_events`` are counted; return (seconds, per_key, per_window).

    ``seconds`` runs from the first event counted to the N-th, as for the
    other peers (connection set-up and the first fetch are not included).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()  # new topic: refresh once
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)

        per_key: dict[str, int] = {}
        per_window: dict[tuple[str, int], int] = {}
        loads = json.loads
        seen = 0
        t_first = 0.0
        while seen < n_events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batches:
                continue
            if not seen:
                t_first = time.perf_counter()
            for records in batches.values():
                for rec in records:
                    key = loads(rec.value)["key"]
                    per_key[key] = per_key.get(key, 0) + 1
                    ts = rec.timestamp  # event time, ms (set by the producer)
                    wk = (key, (ts - ts % WINDOW_MS) // 1000)
                    per_window[wk] = per_window.get(wk, 0) + 1
                    seen += 1
                    if seen == n_events:
                        break
                if seen == n_events:
                    break
        return time.perf_counter() - t_first, per_key, per_window
    finally:
        await consumer.stop()


def run_ceiling(bootstrap: str, topic: str, n_events: int, dump: str | None = None) -> dict:
    """Run the ceiling in this process and return its result dict.

    ``seconds`` starts when the first fetched batch is in hand (its decoding
    and counting are timed), as the other peers start at their first event:
    connecting and the first fetch's wait are excluded for everyone.
    """
    seconds, per_key, per_window = asyncio.run(consume_and_count(bootstrap, topic, n_events))
    if dump:
        dump_tables(dump, per_key, per_window)
    return result_line("ceiling", "dict", n_events, seconds)


def main(argv: list[str] | None = None) -> None:
    args = parse_args("ceiling", ("dict",), argv)
    arm_hard_timeout("ceiling", args.store, args.timeout)
    emit_result(run_ceiling(args.bootstrap, args.topic, args.events, args.dump))


if __name__ == "__main__":
    main()
