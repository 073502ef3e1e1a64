"""The app's settings and the spec shipped to its actors."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from cluster.agents import Agent
from cluster.tables import TableSpec
from cluster.topics import Topic

GUARANTEES = ("at_least_once", "exactly_once")


def bootstrap_of(broker: str) -> str:
    """`kafka://h:p;h2:p2` (Faust style) or plain `h:p,h2:p2` to aiokafka's form."""
    servers = []
    for part in broker.replace(";", ",").split(","):
        part = part.strip()
        if part.startswith("kafka://"):
            part = part[len("kafka://"):]
        if part:
            servers.append(part)
    return ",".join(servers)


@dataclass
class ScalePolicy:
    """When the coordinator asks Ray's autoscaler for CPUs (see actors.autoscale)."""

    high_lag: int = 50_000  # events behind, summed over partitions: scale out above
    low_lag: int = 1_000  # scale back in below
    busy_high: float = 0.9  # partitions in batches this much of the time: saturated
    busy_low: float = 0.5  # and below this (with low lag) they are mostly idle
    rounds_up: int = 6  # consecutive high observations before scaling out (~3 s)
    rounds_down: int = 60  # consecutive low observations before scaling in (~30 s)
    step_cpus: int = 2  # CPUs added per decision (a fake node / a worker's size)
    max_cpus: int = 16



@dataclass
class AppConfig:
    """Settings of one app (`cluster.init(...)` keywords)."""

    app: str
    broker: str = "kafka://127.0.0.1:9092"
    store: str = "memory://"
    processing_guarantee: str = "at_least_once"
    standby_replicas: int | None = None  # None: 1 on a multi-node cluster, else 0
    recovery_buffer_size: int = 50_000
    standby_buffer_size: int = 10_000
    dead_letter_topic: str | None = None
    data_dir: str = field(default_factory=lambda: os.path.join(tempfile.gettempdir(), "raytables"))
    namespace: str = "raytables"
    actor_cpus: float = 0.1
    max_batch_records: int = 20_000
    handoff_batch_records: int = 1_000  # batch size of an active about to hand over (a move)
    parallel_moves: int = 4  # live moves at once while rebalancing or draining
    fetch_max_wait_ms: int = 20
    idle_advance_after: float = 2.0
    max_inflight_closes: int = 64
    close_retries: int = 3
    close_task_options: dict[str, Any] = field(default_factory=lambda: {"num_cpus": 0.1})
    tracing: Any = None  # see cluster.tracing: True, an OTLP URL or a dict
    rebalance: bool = True  # spread actives over nodes as they join (one move at a time)
    autoscale: bool = False  # ask Ray's autoscaler for CPUs while partitions lag
    scale_policy: ScalePolicy = field(default_factory=ScalePolicy)
    start_timeout: float = 120.0
    broker_timeout: float = 15.0

    def __post_init__(self) -> None:
        if self.processing_guarantee not in GUARANTEES:
            raise ValueError(f"processing_guarantee={self.processing_guarantee!r}: "
                             f"use one of {GUARANTEES}")
        # A deploy-time override, as Faust's BROKER_URL: the same script runs on
        # a laptop broker and under `ray job submit` against another one.
        self.broker = os.environ.get("RAYTABLES_BROKER", self.broker)
        self.data_dir = os.environ.get("RAYTABLES_DATA_DIR", self.data_dir)
        from cluster.tracing import normalize

        self.tracing = normalize(self.tracing)

    @property
    def bootstrap(self) -> str:
        return bootstrap_of(self.broker)

    @property
    def coordinator_name(self) -> str:
        return f"{self.app}/coordinator"

    def partition_actor_name(self, partition: int, slot: int) -> str:
        """`app/partition/p7/slot1`: the role (active, standby) is the coordinator's to say."""
        return f"{self.app}/partition/p{partition}/slot{slot}"


@dataclass
class AppSpec:
    """Everything the coordinator and partition actors need to run the app."""

    config: AppConfig
    partitions: int
    topics: dict[str, Topic]
    tables: dict[str, TableSpec]
    agents: list[Agent]

    def store_url(self, table: TableSpec) -> str:
        return table.store or self.config.store
