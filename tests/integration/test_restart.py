"""A partition actor that dies is replaced and keeps its committed state."""

from __future__ import annotations

import pytest

import cluster
import cluster.partitioner
from tests.helpers import wait_for

pytestmark = pytest.mark.integration



@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_killed_partition_actor_is_restarted_with_its_state(bootstrap, ray_local, topic_name,
                                                            tmp_path, store):
    import ray

    app = cluster.Cluster(f"rs-{topic_name}", broker=f"kafka://{bootstrap}", store=store,
                          data_dir=str(tmp_path))
    src = app.topic(topic_name, partitions=2)
    totals = app.table("totals", default=int)
    last = app.table("last")

    @app.agent(src)
    async def add(stream):
        async for ev in stream:
            totals[ev["k"]] += 1
            last[ev["k"]] = ev["i"]

    def events(start: int, stop: int):
        return [(f"k{i % 10}", {"k": f"k{i % 10}", "i": i}) for i in range(start, stop)]

    app.start()
    try:
        src.send_many(events(0, 500))
        app.wait_idle()
        victim = app.owner(0)
        old_pid = ray.get(victim.pid.remote())
        ray.kill(victim, no_restart=True)
        wait_for(lambda: app.stats()["restarts"][0] == 1, what="partition 0 restarted")
        new = app.owner(0)
        assert ray.get(new.pid.remote()) != old_pid
        restored = app.stats()["partitions"][0]["recovery"]
        src.send_many(events(500, 1000))
        app.wait_idle()
        assert dict(totals.items()) == {f"k{i}": 100 for i in range(10)}
        assert dict(last.items()) == {f"k{i}": 990 + i for i in range(10)}
        keys_on_p0 = [k for k in (f"k{i}" for i in range(10))
                      if cluster.partitioner.partition_for_key(k, 2) == 0]
        if store == "memory://":  # rebuilt from the changelog: one record per key per batch
            assert restored["records"] >= len(keys_on_p0) * 2
        else:  # the reopened RocksDB store was current: nothing to replay
            assert restored["records"] == 0
    finally:
        app.stop()
