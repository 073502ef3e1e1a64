"""Failover across Ray nodes: a standby on another node takes over a lost active."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.helpers import tracking_app, tracking_events, wait_for

pytestmark = pytest.mark.cluster



def test_node_loss_mid_stream_standby_takes_over(ray_cluster, bootstrap, topic_name, tmp_path):
    workers = [ray_cluster.add_node(num_cpus=2) for _ in range(2)]
    app, src, latest, counts = tracking_app(f"fo-{topic_name}", bootstrap, topic_name, 4,
                                            store="rocksdb://", data_dir=str(tmp_path),
                                            standby_replicas=1)
    n = 6000
    events = tracking_events(n, 20)
    app.start()
    try:
        replicas = app.replicas()
        by_partition: dict[int, dict[str, str]] = {}
        for r in replicas:
            by_partition.setdefault(r["partition"], {})[r["role"]] = r["node_id"]
        assert all(roles["active"] != roles["standby"] for roles in by_partition.values()), replicas

        src.send_many(events[: n // 2])
        victim_node = by_partition[0]["active"]
        victim = next(w for w in workers if w.node_id == victim_node)

        producer = threading.Thread(target=src.send_many, args=(events[n // 2:],))
        killed_at = time.time()
        ray_cluster.remove_node(victim)
        producer.start()
        lost = [p for p in by_partition if by_partition[p]["active"] == victim_node]
        wait_for(lambda: all(app.stats()["restarts"][p] >= 1 for p in lost),
                 what=f"the standbys of partitions {lost} promoted")
        producer.join(timeout=120)
        app.wait_idle(timeout=180)

        assert dict(latest.items()) == {f"e{i}": i for i in range(n)}
        got = dict(counts.items())
        reference = Counter(f"k{i % 20}" for i in range(n))
        assert all(got[k] >= reference[k] for k in reference), "an update was lost"
        duplicates = sum(got.values()) - n
        promoted = [e for e in app.stats()["events"] if e["event"] == "standby_promoted"]
        assert promoted and all(e["node"] != victim_node for e in promoted)
        print(f"failover: {len(promoted)} partitions promoted, "
              f"{promoted[-1]['at'] - killed_at:.2f}s after the node loss; "
              f"{duplicates} counts replayed twice (at-least-once)")
    finally:
        app.stop()
