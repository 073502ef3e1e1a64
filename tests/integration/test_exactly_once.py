"""exactly_once: counts and outputs exact through kills; a zombie cannot commit."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

import cluster
from tests.helpers import wait_for
from tests.integration.kafka_util import read_topic

pytestmark = pytest.mark.integration



def eos_app(name: str, bootstrap: str, topic: str, **options):
    """Counts per key and one output record per event, both in the batch's transaction."""
    app = cluster.Cluster(name, broker=f"kafka://{bootstrap}", processing_guarantee="exactly_once",
                          **options)
    src = app.topic(topic, partitions=4)
    out = app.topic(f"{topic}-out", partitions=4)
    counts = app.table("counts", default=int)

    @app.agent(src)
    async def count(stream):
        async for ev in stream:
            counts[ev["k"]] += 1
            await out.send(key=ev["k"], value=ev["seq"])

    return app, src, counts


def events(n: int):
    return [(f"k{i % 12}", {"k": f"k{i % 12}", "seq": i}) for i in range(n)]


def test_counts_and_outputs_exact_while_actives_are_killed(bootstrap, ray_local, topic_name):
    import ray

    app, src, counts = eos_app(f"eos-{topic_name}", bootstrap, topic_name)
    n = 8000
    app.start()
    try:
        producer = threading.Thread(
            target=lambda: [src.send_many(events(n)[i:i + 500]) for i in range(0, n, 500)])
        producer.start()
        rng = random.Random(3)
        for kill in range(3):
            p = rng.randrange(4)
            before = app.stats()["restarts"][p]
            ray.kill(app.owner(p), no_restart=True)
            wait_for(lambda p=p, before=before: app.stats()["restarts"][p] > before,
                     what=f"kill {kill}: p{p} back")
        producer.join(timeout=120)
        app.wait_idle(timeout=180)
        reference = Counter(f"k{i % 12}" for i in range(n))
        assert dict(counts.items()) == dict(reference)
    finally:
        app.stop()
    seqs = Counter(int(r.value) for r in read_topic(bootstrap, f"{topic_name}-out"))
    assert set(seqs) == set(range(n)), "a gap"
    assert max(seqs.values()) == 1, "a duplicate"


def test_a_zombie_active_cannot_commit_once_its_successor_started(bootstrap, ray_local, topic_name):
    import ray
    from ray import cloudpickle

    from actors.remote import create_partition_actor

    app, src, counts = eos_app(f"zomb-{topic_name}", bootstrap, topic_name)
    app.start()
    try:
        src.send_many(events(400))
        app.wait_idle()
        zombie = app.owner(0)
        spec = cloudpickle.loads(ray.get(app.coordinator.spec.remote()))
        spec.partitions = 4
        # a successor for partition 0 while the old active still runs (as after a network split)
        successor = create_partition_actor(app.config, cloudpickle.dumps(spec), 0, "active", 9)
        ray.get(successor.start.remote(), timeout=120)
        src.send_many(events(800)[400:])
        fenced = []

        def zombie_fenced() -> bool:
            try:
                fenced.append(ray.get(zombie.progress.remote(), timeout=10)["error"] or "")
            except ray.exceptions.RayActorError:  # the coordinator already replaced it
                fenced.extend(str(e.get("error")) for e in app.stats()["events"]
                              if e["event"] == "replica_dead" and e["partition"] == 0)
            return any("fenced" in e for e in fenced)

        wait_for(zombie_fenced, what="the zombie to be fenced")
        assert any("fenced" in e for e in fenced)
        # the coordinator replaces the fenced actor (which fences the successor in turn)
        wait_for(lambda: app.stats()["restarts"][0] >= 1, what="partition 0 replaced")
        app.wait_idle(timeout=120)
        ray.get(successor.stop.remote())
        ray.kill(successor)
    finally:
        app.stop()
    seqs = Counter(int(r.value) for r in read_topic(bootstrap, f"{topic_name}-out"))
    assert set(seqs) == set(range(800)) and max(seqs.values()) == 1
