"""Nodes joining: actives spread onto them, one live move at a time, values exact."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.helpers import tracking_app, tracking_events, wait_for

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


def test_draining_a_node_moves_actives_and_standbys_off_it_under_load(ray_cluster, bootstrap,
                                                                     topic_name, tmp_path):
    for _ in range(3):
        ray_cluster.add_node(num_cpus=2)
    app, src, latest, counts = tracking_app(f"dr-{topic_name}", bootstrap, topic_name, 4,
                                            store="rocksdb://", data_dir=str(tmp_path),
                                            standby_replicas=1)
    n = 6000
    events = tracking_events(n, 16)
    app.start()
    try:
        def placed() -> list[dict] | None:
            replicas = app.replicas()
            roles = Counter(r.get("role") for r in replicas)
            return replicas if roles == {"active": 4, "standby": 4} else None

        replicas = wait_for(placed, 120, "an active and a standby per partition")
        victim = Counter(r["node_id"] for r in replicas).most_common(1)[0][0]
        producer = threading.Thread(
            target=lambda: [src.send_many(events[i:i + 300]) for i in range(0, n, 300)])
        producer.start()
        assert app.drain(victim, timeout=180)["left"]
        producer.join(timeout=120)

        def apart(avoid: str | None) -> dict[int, dict[str, str]] | None:
            """{partition: {role: node}} once every standby is up, none on its active's
            node, and nothing on `avoid`."""
            replicas = placed()
            if replicas is None or avoid in {r["node_id"] for r in replicas}:
                return None
            by_partition: dict[int, dict[str, str]] = {}
            for r in replicas:
                by_partition.setdefault(r["partition"], {})[r["role"]] = r["node_id"]
            ok = all(x["active"] != x["standby"] for x in by_partition.values())
            return by_partition if ok else None

        def settled() -> dict[int, dict[str, str]] | None:
            return apart(victim)

        wait_for(settled, 120, "every replica off the drained node, standbys apart")
        app.wait_idle(timeout=120)
        assert dict(latest.items()) == {f"e{i}": i for i in range(n)}
        assert dict(counts.items()) == dict(Counter(f"k{i % 16}" for i in range(n)))
        assert app.stats()["drained_nodes"] == [victim]
        app.undrain(victim)
        assert app.stats()["drained_nodes"] == []
        # welcome again: actives and standbys spread back over all three nodes

        def spread() -> Counter | None:
            replicas = apart(None)
            if replicas is None:
                return None
            load = Counter(n for roles in replicas.values() for n in roles.values())
            actives = Counter(roles["active"] for roles in replicas.values())
            ok = len(load) == 3 and max(load.values()) - min(load.values()) <= 1
            return load if ok and sorted(actives.values()) == [1, 1, 2] else None

        load = wait_for(spread, 120, "replicas spread back over the undrained node")
        assert sorted(load.values()) == [2, 3, 3]
    finally:
        app.stop()


def test_a_node_ray_drains_is_left_by_every_active(ray_cluster, bootstrap, topic_name, tmp_path):
    """`ray drain-node` (what a preemption notice or autoscaler v2 termination does)."""
    from ray._private.worker import global_worker
    from ray.core.generated import autoscaler_pb2

    first, second = ray_cluster.add_node(num_cpus=2), ray_cluster.add_node(num_cpus=2)
    app, src, latest, counts = tracking_app(f"rd-{topic_name}", bootstrap, topic_name, 4,
                                            standby_replicas=0)
    n = 4000
    events = tracking_events(n, 16)
    app.start()
    try:
        def actives() -> Counter:
            return Counter(r["node_id"] for r in app.replicas() if r.get("role") == "active")

        wait_for(lambda: actives() == {first.node_id: 2, second.node_id: 2}, 120,
                 "actives spread over both nodes")
        producer = threading.Thread(
            target=lambda: [src.send_many(events[i:i + 200]) for i in range(0, n, 200)])
        producer.start()
        accepted, why = global_worker.gcs_client.drain_node(
            second.node_id, autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION"),
            "test preemption", 0)
        assert accepted, why
        wait_for(lambda: actives() == {first.node_id: 4}, 120, "every active off the drained node")
        producer.join(timeout=120)
        app.wait_idle(timeout=120)
        assert dict(latest.items()) == {f"e{i}": i for i in range(n)}
        assert dict(counts.items()) == dict(Counter(f"k{i % 16}" for i in range(n)))
        assert app.stats()["ray_draining_nodes"] == [second.node_id]
    finally:
        app.stop()
