"""The session's local Ray: loopback, private temp dir, actors answer."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_local_ray_runs_actors_on_loopback(ray_local: None) -> None:
    import ray

    @ray.remote(num_cpus=0)
    class Echo:
        def where(self) -> str:
            return ray.get_runtime_context().get_node_id()

    echo = Echo.remote()
    node_id = ray.get(echo.where.remote(), timeout=60)
    addresses = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
    assert addresses == {node_id: "127.0.0.1"}
