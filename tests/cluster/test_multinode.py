"""The multi-node helper itself: placement by node label and node loss."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.cluster


def test_actor_avoids_a_node_and_node_loss_is_seen(ray_cluster) -> None:
    import ray

    worker = ray_cluster.add_node(num_cpus=1)
    head_id = ray.get_runtime_context().get_node_id()

    @ray.remote(num_cpus=0)
    class Where:
        def node(self) -> str:
            return ray.get_runtime_context().get_node_id()

    actor = Where.options(label_selector={"ray.io/node-id": f"!{head_id}"}).remote()
    assert ray.get(actor.node.remote(), timeout=60) == worker.node_id

    ray_cluster.remove_node(worker)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        if worker.node_id not in alive:
            break
        time.sleep(0.2)
    assert worker.node_id not in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.node.remote(), timeout=30)
