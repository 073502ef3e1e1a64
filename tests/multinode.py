"""Several Ray nodes on one machine, for placement and failover tests.

Wraps ray.cluster_utils.Cluster with the settings this machine needs
(loopback, a private temp dir, faster node-death detection) and tears the
whole thing down in one call.
"""

from __future__ import annotations

import os
from typing import Any

import ray  # noqa: I001
from ray.cluster_utils import Cluster

from cluster.localdev import free_port, ray_temp_dir, use_loopback

# Node death is noticed after period x threshold; the defaults (3 s x 5) make
# every failover test wait 15 s. Tighter than ~4 s and a busy 2-core machine
# starts declaring live nodes (the head too) dead.
FAST_HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 1000,
    "health_check_period_ms": 1000,
    "health_check_failure_threshold": 4,
    "health_check_timeout_ms": 2000,
}


class MultiNodeCluster:
    def __init__(self, head_cpus: int = 0, system_config: dict[str, Any] | None = None) -> None:
        use_loopback()
        temp_dir = ray_temp_dir()
        # cluster_utils writes its address file under $RAY_TMPDIR/ray: keep it private too.
        os.environ["RAY_TMPDIR"] = temp_dir
        os.makedirs(os.path.join(temp_dir, "ray"), exist_ok=True)
        self._head_args = {
            # agent ports of our own: the defaults (52365, ...) may be held by another
            # Ray on this machine, and a node whose agent cannot bind never registers
            "dashboard_agent_listen_port": free_port(),
            "metrics_export_port": free_port(),
            "num_cpus": head_cpus,
            "node_ip_address": "127.0.0.1",
            "temp_dir": temp_dir,
            "include_dashboard": False,
            "_system_config": {**FAST_HEALTH_CHECKS, **(system_config or {})},
        }
        self.cluster: Cluster | None = None
        self.workers: list[Any] = []

    def __enter__(self) -> MultiNodeCluster:
        self.cluster = Cluster(initialize_head=True, connect=True, head_node_args=self._head_args)
        return self

    def add_node(self, num_cpus: int = 1, **kwargs: Any) -> Any:
        assert self.cluster is not None
        kwargs.setdefault("metrics_export_port", free_port())
        node = self.cluster.add_node(num_cpus=num_cpus, node_ip_address="127.0.0.1", **kwargs)
        self.workers.append(node)
        self.cluster.wait_for_nodes()
        return node

    def remove_node(self, node: Any) -> None:
        assert self.cluster is not None
        self.cluster.remove_node(node, allow_graceful=False)
        self.workers.remove(node)

    def node_id_of(self, node: Any) -> str:
        return node.node_id

    def __exit__(self, *exc: object) -> None:
        if ray.is_initialized():
            ray.shutdown()
        if self.cluster is not None:
            self.cluster.shutdown()
