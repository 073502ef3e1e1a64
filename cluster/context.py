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
from typing import Any, Protocol


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


class PartitionState(Protocol):
    """What the local state of one table on one partition offers (see actors.table_core)."""

    name: str
    partition: int

    def get(self, key: Any, default: Any = None) -> Any: ...
    def set(self, key: Any, value: Any) -> None: ...
    def delete(self, key: Any) -> bool: ...
    def contains(self, key: Any) -> bool: ...


@dataclass
class PartitionBinding:
    partition: int
    tables: dict[str, Any]
    event: Event | None = None
    stream_time: float = 0.0
    in_agent: bool = False
    late_events: dict[str, int] = field(default_factory=dict)

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
