"""Nodes joining: actives spread onto them, one live move at a time, values exact."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.helpers import tracking_app, tracking_events

pytestmark = pytest.mark.cluster


def test_partitions_spread_onto_a_new_node_under_load(ray_cluster, bootstrap, topic_name,
                                                      tmp_path):
    ray_cluster.add_node(num_cpus=2)
    app, src, latest, counts = tracking_app(f"rb-{topic_name}", bootstrap, topic_name, 4,
                                            store="rocksdb://", data_dir=str(tmp_path),
                                            standby_replicas=0)
    n = 6000
    events = tracking_events(n, 16)
    app.start()
    try:
        assert len({r["node_id"] for r in app.replicas()}) == 1
        producer = threading.Thread(
            target=lambda: [src.send_many(events[i:i + 300]) for i in range(0, n, 300)])
        producer.start()
        new = ray_cluster.add_node(num_cpus=2)
        deadline = time.monotonic() + 120
        spread: Counter = Counter()
        while time.monotonic() < deadline:
            spread = Counter(r["node_id"] for r in app.replicas() if r.get("role") == "active")
            if spread.get(new.node_id) == 2 and len(spread) == 2:
                break
            time.sleep(0.5)
        assert spread[new.node_id] == 2 and max(spread.values()) == 2, spread
        producer.join(timeout=120)
        app.wait_idle(timeout=120)
        assert dict(latest.items()) == {f"e{i}": i for i in range(n)}
        assert dict(counts.items()) == dict(Counter(f"k{i % 16}" for i in range(n)))
        moves = app.stats()["moves"]
        assert len(moves) == 2 and all(m["to"] == new.node_id for m in moves)
        print("rebalance pauses:", [m["pause_seconds"] for m in moves])
    finally:
        app.stop()
