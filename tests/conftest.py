"""Test tiers and the real infrastructure under them.

unit: no Ray, no Kafka (tests/unit). integration: the real local broker and a
local Ray started once per session. cluster: several Ray nodes on this machine
through ray.cluster_utils.Cluster; they run last because they replace the
session's local Ray.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

# Ray on loopback, before anything imports ray (it reads these at import)
for _k, _v in {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
               "RAY_USAGE_STATS_ENABLED": "0"}.items():
    os.environ.setdefault(_k, _v)

import pytest  # noqa: E402

from cluster.localdev import LocalKafka, init_local_ray  # noqa: E402
from tests.helpers import serving  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def tier(item: pytest.Item) -> int:
        if item.get_closest_marker("cluster"):
            return 2
        return 1 if item.get_closest_marker("integration") else 0

    items.sort(key=tier)


@pytest.fixture(scope="session")
def kafka() -> Iterator[LocalKafka]:
    """The real broker, started once per session by deploy/kafka.sh and stopped by PID."""
    with serving(LocalKafka()) as broker:
        yield broker


@pytest.fixture(scope="session")
def bootstrap(kafka: LocalKafka) -> str:
    return kafka.bootstrap


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name no other test (or earlier run) uses."""
    base = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:40].strip("-")
    return f"{base}-{uuid.uuid4().hex[:8]}"


_ray_state = {"local": False}


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One local Ray for the session: starting Ray costs seconds on 2 cores."""
    import ray

    if not ray.is_initialized():
        init_local_ray(num_cpus=4)
        _ray_state["local"] = True
    yield
    if _ray_state["local"] and ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def ray_cluster() -> Iterator[object]:
    """Several raylets on this machine; remove_node() simulates a node crash."""
    import ray

    from tests.multinode import MultiNodeCluster

    if ray.is_initialized():
        ray.shutdown()
        _ray_state["local"] = False
    with MultiNodeCluster() as cluster:
        yield cluster
