"""The runtime end to end on the real broker and a local Ray: exact values."""

from __future__ import annotations

import json
import random
import time
from collections import Counter

import pytest

import cluster
from cluster.partitioner import partition_for_key
from cluster.windows import TumblingWindow
from tests.integration.kafka_util import changelog_state, committed_and_end

pytestmark = pytest.mark.integration


class PageView(cluster.Record):
    page: str
    user: str


PAGES = [f"/p{i}" for i in range(12)]


def _page_events(n: int, seed: int = 1) -> list[tuple[None, PageView, int, float]]:
    rng = random.Random(seed)
    base = time.time() - 200
    return [(None, PageView(page=rng.choice(PAGES), user=f"u{rng.randrange(9)}"),
             rng.randrange(4), round(base + rng.uniform(0, 100), 3)) for _ in range(n)]


def test_windowed_and_plain_counts_exact_from_the_driver(bootstrap, ray_local, topic_name, tmp_path):
    app = cluster.Cluster(f"pv-{topic_name}", broker=f"kafka://{bootstrap}", store="rocksdb://",
                          data_dir=str(tmp_path))
    views = app.topic(topic_name, value_type=PageView, partitions=4)
    counts = app.table("views", default=int).tumbling(10, expires=3600)
    totals = app.table("totals", default=int)

    @app.agent(views)
    async def count(stream):
        async for view in stream.group_by(PageView.page):
            counts[view.page] += 1
            totals[view.page] += 1

    events = _page_events(3000)
    window = TumblingWindow(10)
    ref_totals = Counter(v.page for _, v, _, _ in events)
    ref_windows = Counter((v.page, window.current(ts)) for _, v, _, ts in events)

    app.start()
    try:
        views.send_many(events)
        app.wait_idle(timeout=120)

        # plain table, each key read from its owner
        assert {p: totals[p] for p in PAGES} == dict(ref_totals)
        assert sorted(totals.items()) == sorted(ref_totals.items())
        assert len(totals) == len(ref_totals)
        assert totals["/never"] == 0 and "/never" not in totals
        # every window of every key
        for (page, r), n in ref_windows.items():
            assert counts[page][r] == n, (page, r)
        # .current()/.delta() follow the owner's stream time (latest event time it saw)
        stream_time = {}
        for _, v, _, ts in events:
            p = partition_for_key(v.page, 4)
            stream_time[p] = max(stream_time.get(p, 0.0), ts)
        for page in PAGES:
            st = stream_time[partition_for_key(page, 4)]
            assert counts[page].current() == ref_windows.get((page, window.current(st)), 0)
            assert counts[page].delta(30) == ref_windows.get((page, window.current(st - 30)), 0)
            assert counts[page].now() == 0  # wall clock: no event is that recent
        table_text = counts.as_ansitable()
        assert all(page in table_text for page in ref_totals)

        with pytest.raises(cluster.TableWriteError, match="outside an agent"):
            totals["/p1"] = 5
        with pytest.raises(cluster.TableWriteError):
            counts["/p1"] += 1

        stats = app.stats()
        assert sum(s["counters"].get("events", 0) for s in stats["partitions"].values()) == 2 * len(events)
    finally:
        app.stop()

    # the changelogs hold exactly the final tables
    assert changelog_state(bootstrap, f"{app.config.app}-totals-changelog") == dict(ref_totals)
    assert changelog_state(bootstrap, f"{app.config.app}-views-changelog") == dict(ref_windows)
    # every source offset committed under group id = app
    committed, ends = committed_and_end(bootstrap, app.config.app, topic_name)
    assert committed == ends


def test_word_count_each_word_1000(bootstrap, ray_local, topic_name):
    app = cluster.Cluster(f"wc-{topic_name}", broker=f"kafka://{bootstrap}")
    sentences = app.topic(f"{topic_name}-s", value_type=str, partitions=3)
    words = app.topic(f"{topic_name}-w", value_type=str, partitions=3)
    word_counts = app.table("word_counts", default=int)

    @app.agent(sentences)
    async def split(stream):
        async for sentence in stream:
            for word in sentence.split():
                await words.send(key=word, value=word)

    @app.agent(words)
    async def count(stream):
        async for word in stream:
            word_counts[word] += 1

    app.start()
    try:
        sentences.send_many((None, "the quick brown fox") for _ in range(1000))
        app.wait_idle(timeout=120)
        assert dict(word_counts.items()) == {"the": 1000, "quick": 1000, "brown": 1000, "fox": 1000}
        assert word_counts["fox"] == 1000

        from click.testing import CliRunner

        from cluster.cli import main

        result = CliRunner().invoke(main, ["status", "--app", app.config.app, "--json"])
        assert result.exit_code == 0, result.output
        status = json.loads(result.output)
        assert sorted(r["partition"] for r in status["replicas"]) == [0, 1, 2]
        assert sum(p["counters"]["events"] for p in status["stats"]["partitions"].values()) == 5000
        table = CliRunner().invoke(main, ["status", "--app", app.config.app])
        assert table.exit_code == 0 and "active" in table.output
    finally:
        app.stop()
    assert changelog_state(bootstrap, f"{app.config.app}-word_counts-changelog") == {
        "the": 1000, "quick": 1000, "brown": 1000, "fox": 1000}
