"""Window-close callbacks as Ray tasks: exactly the closed windows, retried, never lost."""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest

import cluster
from cluster.windows import HoppingWindow, TumblingWindow
from tests.helpers import wait_for

pytestmark = pytest.mark.integration


def collector():
    """A named actor the close tasks report to (they run in other processes)."""
    import ray

    @ray.remote(num_cpus=0)
    class Collector:
        def __init__(self) -> None:
            self.closes: list[tuple] = []
            self.attempts: Counter = Counter()

        def record(self, close_id, value, pid) -> None:
            self.closes.append((close_id, value, pid))

        def attempt(self, close_id) -> int:
            self.attempts[close_id] += 1
            return self.attempts[close_id]

        def all(self) -> list[tuple]:
            return list(self.closes)

    return Collector.remote()



def keyed_events(n_keys: int, seconds: int, base: float):
    """One event per key every 0.25 s of event time, keyed so a key stays on one partition."""
    out = []
    for i in range(seconds * 4):
        for k in range(n_keys):
            out.append((f"k{k}", {"k": f"k{k}"}, None, base + i * 0.25))
    return out


def expected_closes(events, window, table):
    counts = Counter()
    for _, v, _, ts in events:
        for r in window.ranges(ts):
            counts[(table, v["k"], r[0], r[1])] += 1
    return counts


def make_app(name, bootstrap, topic, window, on_close, **options):
    app = cluster.Cluster(name, broker=f"kafka://{bootstrap}", idle_advance_after=0.3, **options)
    src = app.topic(topic, partitions=8)
    table = app.table("w", default=int).using_window(window)
    table.on_window_close(on_close, num_cpus=0)

    @app.agent(src)
    async def count(stream):
        async for ev in stream:
            table[ev["k"]] += 1

    return app, src


@pytest.mark.parametrize("window", [TumblingWindow(2, expires=1), HoppingWindow(2, 1, expires=1)],
                         ids=["tumbling", "hopping"])
def test_every_window_closes_once_with_its_final_value(bootstrap, ray_local, topic_name, window):
    import ray

    sink = collector()

    def on_close(key, value, close_id=None):
        ray.get(sink.record.remote(close_id, value, os.getpid()))

    events = keyed_events(16, 12, time.time() - 120)
    expected = expected_closes(events, window, "w")
    app, src = make_app(f"wc-{topic_name}", bootstrap, topic_name, window, on_close)
    app.start()
    try:
        src.send_many(events)
        wait_for(lambda: len(ray.get(sink.all.remote())) >= len(expected),
                 what=f"{len(expected)} closes")
        app.wait_idle()
        closes = ray.get(sink.all.remote())
        assert Counter(c[0] for c in closes) == Counter(dict.fromkeys(expected, 1))
        assert {c[0]: c[1] for c in closes} == dict(expected)
        stats = app.stats()["partitions"]
        actor_pids = {s["pid"] for s in stats.values()}
        assert not {c[2] for c in closes} & actor_pids  # ran in Ray tasks, not in the actors
        assert all(s["closes"]["dispatched"] > 0 for s in stats.values())  # every partition
        assert sum(s["closes"]["succeeded"] for s in stats.values()) == len(expected)
        assert all(s["tables"]["w"]["last_closed_window"] > 0 for s in stats.values())
    finally:
        app.stop()


def test_failing_callbacks_are_retried_then_reported(bootstrap, ray_local, topic_name):
    import ray

    sink = collector()

    def flaky(key, value, close_id=None):
        # keys k0..k3 fail twice then succeed; k4..k7 always fail
        n = ray.get(sink.attempt.remote(close_id))
        if key[0] in ("k4", "k5", "k6", "k7") or n <= 2:
            raise RuntimeError(f"attempt {n} of {close_id} fails")
        ray.get(sink.record.remote(close_id, value, os.getpid()))

    window = TumblingWindow(2, expires=1)
    events = keyed_events(8, 6, time.time() - 120)
    expected = expected_closes(events, window, "w")
    dlq = f"{topic_name}-dlq"
    app, src = make_app(f"wf-{topic_name}", bootstrap, topic_name, window, flaky,
                        close_retries=2, dead_letter_topic=dlq)
    app.start()
    try:
        src.send_many(events)
        good = {k for k in expected if k[1] in ("k0", "k1", "k2", "k3")}
        bad = set(expected) - good

        def closes_done():
            st = app.stats()["partitions"].values()
            return sum(s["closes"]["succeeded"] + s["closes"]["failed"] for s in st) >= len(expected)

        wait_for(closes_done, what="every close finished")
        app.wait_idle()
        stats = app.stats()["partitions"].values()
        assert sum(s["closes"]["succeeded"] for s in stats) == len(good)
        assert sum(s["closes"]["failed"] for s in stats) == len(bad)
        assert {c[0] for c in ray.get(sink.all.remote())} == good
        failures = [f for s in stats for f in s["closes"]["failures"]]
        assert failures and all("fails" in f["error"] for f in failures)
    finally:
        app.stop()
    from tests.integration.kafka_util import read_topic

    assert len(read_topic(bootstrap, dlq)) == len(bad)


def test_closes_in_flight_survive_a_killed_active(bootstrap, ray_local, topic_name):
    import ray

    sink = collector()

    def slow(key, value, close_id=None):
        time.sleep(0.3)
        ray.get(sink.record.remote(close_id, value, os.getpid()))

    window = TumblingWindow(2, expires=1)
    events = keyed_events(8, 16, time.time() - 120)
    expected = expected_closes(events, window, "w")
    app, src = make_app(f"wk-{topic_name}", bootstrap, topic_name, window, slow,
                        max_inflight_closes=4)
    app.start()
    try:
        src.send_many(events)
        wait_for(lambda: len(ray.get(sink.all.remote())) >= 5, what="first closes")
        victim = app.owner(0)
        ray.kill(victim, no_restart=True)
        wait_for(lambda: app.stats()["restarts"][0] >= 1, what="partition 0 restarted")
        wait_for(lambda: set(expected) <= {c[0] for c in ray.get(sink.all.remote())},
                 what="every window closed")
        app.wait_idle()
        seen = Counter(c[0] for c in ray.get(sink.all.remote()))
        assert set(seen) == set(expected)
        duplicates = sum(seen.values()) - len(expected)
        print(f"closes after the kill: {duplicates} delivered twice (at-least-once)")
    finally:
        app.stop()
