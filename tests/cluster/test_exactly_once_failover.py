"""exactly_once through node loss: the promoted standby fences the lost producer;
counts are exact and the output has no gap and no duplicate."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from tests.helpers import wait_for
from tests.integration.kafka_util import read_topic
from tests.integration.test_exactly_once import eos_app
from tests.integration.test_exactly_once import events as eos_events

pytestmark = pytest.mark.cluster


def test_node_loss_under_exactly_once(ray_cluster, bootstrap, topic_name, tmp_path):
    workers = [ray_cluster.add_node(num_cpus=2) for _ in range(2)]
    app, src, counts = eos_app(f"eosn-{topic_name}", bootstrap, topic_name, store="rocksdb://",
                               data_dir=str(tmp_path), standby_replicas=1, rebalance=False)
    n = 6000
    events = eos_events(n)
    app.start()
    try:
        active_nodes = {r["partition"]: r["node_id"] for r in app.replicas()
                        if r.get("role") == "active"}
        src.send_many(events[: n // 2])
        victim = next(w for w in workers if w.node_id == active_nodes[0])
        lost = [p for p, node in active_nodes.items() if node == victim.node_id]
        producer = threading.Thread(target=src.send_many, args=(events[n // 2:],))
        ray_cluster.remove_node(victim)
        producer.start()
        wait_for(lambda: all(app.stats()["restarts"][p] >= 1 for p in lost),
                 what=f"partitions {lost} promoted")
        producer.join(timeout=120)
        app.wait_idle(timeout=180)
        assert dict(counts.items()) == dict(Counter(f"k{i % 12}" for i in range(n)))
    finally:
        app.stop()
    seqs = Counter(int(r.value) for r in read_topic(bootstrap, f"{topic_name}-out"))
    assert set(seqs) == set(range(n)), "a gap"
    assert max(seqs.values()) == 1, "a duplicate"
