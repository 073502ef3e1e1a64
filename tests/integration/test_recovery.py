"""Recovery from changelogs: only the tail after a restart, compacted logs, bad offsets."""

from __future__ import annotations

import os
import time

import pytest

import cluster
from actors.stores import open_store
from tests.integration.kafka_util import committed_and_end, read_topic

pytestmark = pytest.mark.integration


def counting_app(name: str, bootstrap: str, topic: str, **options) -> tuple[cluster.Cluster, object, object]:
    app = cluster.Cluster(name, broker=f"kafka://{bootstrap}", **options)
    src = app.topic(topic, partitions=2)
    totals = app.table("totals", default=int)

    @app.agent(src)
    async def add(stream):
        async for ev in stream:
            totals[ev["k"]] += 1

    return app, src, totals


def changelog_end(bootstrap: str, app: str) -> int:
    return sum(committed_and_end(bootstrap, "nobody", f"{app}-totals-changelog")[1].values())


def test_restart_on_the_same_node_reads_only_the_changelog_tail(bootstrap, ray_local, topic_name,
                                                                 tmp_path):
    name = f"tail-{topic_name}"
    events = [(f"k{i % 30}", {"k": f"k{i % 30}"}) for i in range(900)]
    app, src, _ = counting_app(name, bootstrap, topic_name, store="rocksdb://",
                               data_dir=str(tmp_path / "node-a"))
    app.start()
    src.send_many(events[:300])
    app.wait_idle()
    app.stop()
    end_after_first = changelog_end(bootstrap, name)

    # the same app runs elsewhere for a while (another data dir: a memory store)
    other, src, _ = counting_app(name, bootstrap, topic_name, store="memory://")
    other.start()
    src.send_many(events[300:600])
    other.wait_idle()
    other.stop()
    tail = changelog_end(bootstrap, name) - end_after_first
    assert tail > 0

    again, src, totals = counting_app(name, bootstrap, topic_name, store="rocksdb://",
                                      data_dir=str(tmp_path / "node-a"))
    again.start()
    try:
        recovered = sum(p["recovery"]["records"] for p in again.stats()["partitions"].values())
        assert recovered == tail
        src.send_many(events[600:])
        again.wait_idle()
        assert dict(totals.items()) == {f"k{i}": 30 for i in range(30)}
    finally:
        again.stop()


def test_recovery_across_tombstones_and_compacted_segments(bootstrap, ray_local, topic_name):
    name = f"cmp-{topic_name}"
    compaction = {"segment.ms": "100", "min.cleanable.dirty.ratio": "0.0001",
                  "min.compaction.lag.ms": "0", "delete.retention.ms": "100"}

    def make(store: str):
        app = cluster.Cluster(name, broker=f"kafka://{bootstrap}", store=store)
        src = app.topic(topic_name, partitions=2)
        state = app.table("state", extra_topic_configs=compaction)

        @app.agent(src)
        async def apply(stream):
            async for ev in stream:
                if ev["op"] == "del":
                    del state[ev["k"]]
                else:
                    state[ev["k"]] = ev["v"]

        return app, src, state

    app, src, state = make("memory://")
    expected: dict[str, int] = {}
    app.start()
    try:
        for rnd in range(12):
            batch = []
            for i in range(40):
                k = f"k{i}"
                if rnd % 3 == 2 and i % 4 == 0 and k in expected:
                    batch.append((k, {"op": "del", "k": k}))
                    del expected[k]
                else:
                    batch.append((k, {"op": "set", "k": k, "v": rnd * 100 + i}))
                    expected[k] = rnd * 100 + i
            src.send_many(batch)
            app.wait_idle()
            time.sleep(0.15)  # segment.ms=100 rolls a segment between rounds: input, not a wait
        assert dict(state.items()) == expected
    finally:
        app.stop()

    changelog = f"{name}-state-changelog"
    ends = committed_and_end(bootstrap, "nobody", changelog)[1]
    written = sum(ends.values())
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(read_topic(bootstrap, changelog)) >= written:
        time.sleep(1)
    remaining = len(read_topic(bootstrap, changelog))
    assert remaining < written, "the broker never compacted the changelog"

    again, _, state = make("memory://")
    again.start()
    try:
        recovered = sum(p["recovery"]["records"] for p in again.stats()["partitions"].values())
        assert recovered <= remaining < written  # the cleaner may run on meanwhile
        assert dict(state.items()) == expected
    finally:
        again.stop()


def test_store_ahead_of_the_changelog_fails_clearly(bootstrap, ray_local, topic_name, tmp_path):
    name = f"ahead-{topic_name}"
    path = tmp_path / name / "totals" / "p0"
    os.makedirs(path.parent)
    store = open_store("rocksdb://", path)
    store.write_batch({b'"k"': b"5"}, 1000)
    store.close()
    app, _, _ = counting_app(name, bootstrap, topic_name, store="rocksdb://",
                             data_dir=str(tmp_path))
    with pytest.raises(cluster.ChangelogAheadOfTopic, match=str(path)):
        app.start()
