"""What a table handle needs to know about the process it runs in.

A partition actor binds its partition here once, when it loads the app: from
then on every table handle in that process reads and writes that partition's
state, and the stream sets the event being processed. Nowhere else is bound,
so in the driver or a Ray task handles route to the owning actor instead.
Binding is per process and explicit (one partition actor per process), not a
guess from ambient state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Event:
    """The record an agent is processing: value plus where it came from."""

    topic: str
    partition: int
    offset: int
    timestamp: float  # seconds, from the Kafka record
    key: Any
    value: Any
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class PartitionBinding:
    partition: int
    tables: dict[str, Any]
    event: Event | None = None
    stream_time: float = 0.0
    # records the agents send, written with the batch's changelogs: (topic, key, value,
    # partition or None, timestamp or None, headers)
    outbox: list[tuple[Any, ...]] = field(default_factory=list)

    def table(self, name: str) -> Any:
        try:
            return self.tables[name]
        except KeyError:
            raise LookupError(
                f"table {name!r} is not part of this app's partition {self.partition}: "
                f"declare it with cluster.table() before cluster.start()"
            ) from None


_binding: PartitionBinding | None = None


def bind(binding: PartitionBinding | None) -> None:
    global _binding
    _binding = binding


def local() -> PartitionBinding | None:
    return _binding
