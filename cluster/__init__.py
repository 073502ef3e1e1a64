"""raytables: Faust-style windowed tables backed by Kafka changelogs, on Ray.

    import cluster
    cluster.init(app="pageviews", broker="kafka://127.0.0.1:9092", store="rocksdb://")
    views = cluster.topic("page_views", value_type=PageView, partitions=8)
    counts = cluster.table("views", default=int).tumbling(10, expires=3600)

    @cluster.agent(views)
    async def count(stream):
        async for view in stream.group_by(PageView.page):
            counts[view.page] += 1

    if __name__ == "__main__":
        cluster.run()
"""

from __future__ import annotations

from typing import Any

from cluster.agents import Agent
from cluster.app import Cluster, connect
from cluster.codecs import Codec, FieldDescriptor, JsonCodec, RawCodec, Record, codec_for
from cluster.config import ScalePolicy
from cluster.context import Event
from cluster.errors import (
    BrokerUnavailable,
    ChangelogAheadOfTopic,
    ConfigError,
    PartitionCountMismatch,
    RaytablesError,
)
from cluster.streams import Stream
from cluster.tables import Table, TableWriteError, WindowSet, WindowWrapper
from cluster.topics import Topic
from cluster.windows import HoppingWindow, SlidingWindow, TumblingWindow, Window

__all__ = [
    "Agent", "BrokerUnavailable", "ChangelogAheadOfTopic", "Cluster", "Codec", "ConfigError",
    "Event", "FieldDescriptor", "HoppingWindow", "JsonCodec", "PartitionCountMismatch",
    "RawCodec", "RaytablesError", "Record", "ScalePolicy", "SlidingWindow", "Stream", "Table",
    "TableWriteError", "Topic", "TumblingWindow", "Window", "WindowSet", "WindowWrapper",
    "agent", "codec_for", "connect", "current", "drain", "init", "move", "run", "start", "stats",
    "stop", "table", "topic", "undrain", "wait_idle",
]

_default: Cluster | None = None


def init(app: str, broker: str = "kafka://127.0.0.1:9092", **options: Any) -> Cluster:
    """Creates the default app the module-level functions act on."""
    global _default
    _default = Cluster(app, broker, **options)
    return _default


def current() -> Cluster:
    if _default is None:
        raise RuntimeError("no app: call cluster.init(app=..., broker=...) first")
    return _default


def topic(name: str, **kwargs: Any) -> Topic:
    return current().topic(name, **kwargs)


def table(name: str, default: Any = None, **kwargs: Any) -> Any:
    return current().table(name, default, **kwargs)


def agent(topic: Topic | str, **kwargs: Any) -> Any:
    return current().agent(topic, **kwargs)


def start(**kwargs: Any) -> None:
    current().start(**kwargs)


def stop() -> None:
    current().stop()


def run() -> None:
    current().run()


def stats() -> dict[str, Any]:
    return current().stats()


def wait_idle(timeout: float = 120.0) -> None:
    current().wait_idle(timeout)


def move(partition: int, node_id: str | None = None) -> dict[str, Any]:
    return current().move(partition, node_id)


def drain(node_id: str, wait: bool = True, timeout: float = 300) -> dict[str, Any]:
    return current().drain(node_id, wait, timeout)


def undrain(node_id: str) -> None:
    current().undrain(node_id)
