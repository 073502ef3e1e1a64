"""Partition lifecycle: states and the legal moves between them.

An illegal move is a bug in the runtime, so it fails loudly instead of
leaving a partition in a state nobody planned for (Kafka Streams' Task.State).
"""

from __future__ import annotations

import enum


class PartitionState(str, enum.Enum):
    CREATED = "created"
    RESTORING = "restoring"
    ACTIVE = "active"
    STANDBY = "standby"
    STOPPING = "stopping"
    CLOSED = "closed"
    FAILED = "failed"


_S = PartitionState
LEGAL: dict[PartitionState, frozenset[PartitionState]] = {
    _S.CREATED: frozenset({_S.RESTORING, _S.STOPPING, _S.FAILED}),
    _S.RESTORING: frozenset({_S.ACTIVE, _S.STANDBY, _S.STOPPING, _S.FAILED}),
    _S.STANDBY: frozenset({_S.RESTORING, _S.ACTIVE, _S.STOPPING, _S.FAILED}),
    _S.ACTIVE: frozenset({_S.STOPPING, _S.FAILED}),
    _S.FAILED: frozenset({_S.STOPPING}),
    _S.STOPPING: frozenset({_S.CLOSED, _S.FAILED}),
    _S.CLOSED: frozenset(),
}


class IllegalTransition(RuntimeError):
    pass


class Lifecycle:
    def __init__(self) -> None:
        self.state = PartitionState.CREATED

    def to(self, new: PartitionState) -> None:
        if new not in LEGAL[self.state]:
            raise IllegalTransition(f"partition cannot go from {self.state.value} to {new.value}")
        self.state = new
