"""Bad input is reported, counted, dead-lettered and skipped; config errors are clear."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

import cluster
from cluster.topics import produce
from tests.integration.kafka_util import changelog_state, read_topic

pytestmark = pytest.mark.integration


def test_bad_events_skipped_counted_and_dead_lettered(bootstrap, ray_local, topic_name):
    dlq = f"{topic_name}-dlq"
    app = cluster.Cluster(f"bad-{topic_name}", broker=f"kafka://{bootstrap}",
                          dead_letter_topic=dlq)
    source = app.topic(topic_name, partitions=2)  # json values
    sums = app.table("sums", default=int)

    @app.agent(source)
    async def add(stream):
        async for event in stream:
            if event["n"] == 13:
                raise ValueError("unlucky")
            sums[event["k"]] += event["n"]

    good = [{"k": f"k{i % 5}", "n": i} for i in range(200) if i != 13]
    # keyed by k, so each key's events (and its table row) live on one partition
    json = cluster.JsonCodec()
    raw = [(json.dumps(v["k"]), json.dumps(v), None, None, ()) for v in good]
    raw.insert(50, (b'"k0"', b"{not json", None, None, ()))
    raw.insert(120, (b'"k1"', b'{"k": "k1", "n": 13}', None, None, ()))
    raw.insert(150, (b'"k2"', b"\xff\xfe", None, None, ()))
    expected: dict[str, int] = {}
    for v in good:
        expected[v["k"]] = expected.get(v["k"], 0) + v["n"]

    app.start()
    try:
        asyncio.run(produce(bootstrap, topic_name, raw))
        app.wait_idle(timeout=120)
        assert dict(sums.items()) == expected
        stats = app.stats()["partitions"]
        counters = [s["counters"] for s in stats.values()]
        assert sum(c.get("bad_decode", 0) for c in counters) == 2
        assert sum(c.get("bad_agent", 0) for c in counters) == 1
        samples = [b for s in stats.values() for b in s["bad_samples"]]
        assert {(b["topic"], b["kind"]) for b in samples} == {(topic_name, "decode"), (topic_name, "agent")}
        assert all(isinstance(b["offset"], int) for b in samples)
    finally:
        app.stop()
    dead = read_topic(bootstrap, dlq)
    assert sorted(r.value for r in dead) == sorted([b"{not json", b'{"k": "k1", "n": 13}', b"\xff\xfe"])
    assert all(dict(r.headers)["raytables-source"].startswith(topic_name.encode()) for r in dead)
    assert changelog_state(bootstrap, f"{app.config.app}-sums-changelog") == expected


def test_partition_count_mismatch_is_refused(bootstrap, ray_local, topic_name):
    app = cluster.Cluster(f"mm-{topic_name}", broker=f"kafka://{bootstrap}")
    a = app.topic(f"{topic_name}-a", partitions=3)
    b = app.topic(f"{topic_name}-b", partitions=4)
    app.table("t", default=int)

    @app.agent(a)
    async def one(stream):
        async for _ in stream:
            pass

    @app.agent(b)
    async def two(stream):
        async for _ in stream:
            pass

    with pytest.raises(cluster.PartitionCountMismatch, match=r"3.*4|4.*3"):
        app.start()


def test_table_partitions_must_match_source(bootstrap, ray_local, topic_name):
    app = cluster.Cluster(f"mt-{topic_name}", broker=f"kafka://{bootstrap}")
    src = app.topic(topic_name, partitions=3)
    app.table("t", default=int, partitions=8)

    @app.agent(src)
    async def one(stream):
        async for _ in stream:
            pass

    with pytest.raises(cluster.PartitionCountMismatch, match="partitions=8.*3"):
        app.start()


def test_broker_down_fails_clearly_and_in_bounded_time(ray_local, topic_name):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    app = cluster.Cluster(f"down-{topic_name}", broker=f"kafka://127.0.0.1:{port}",
                          broker_timeout=5)
    src = app.topic(topic_name, partitions=1)

    @app.agent(src)
    async def one(stream):
        async for _ in stream:
            pass

    started = time.monotonic()
    with pytest.raises(cluster.BrokerUnavailable, match=f"127.0.0.1:{port}"):
        app.start()
    assert time.monotonic() - started < 60
