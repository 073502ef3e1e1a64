"""The stream an agent iterates, fed one batch at a time by its partition actor.

The actor loads a decoded batch and waits until the agent has asked for the
event after its last one; iterating within a batch never suspends, so the
`async for` costs a coroutine step per event, not a trip through the event
loop. Each step sets the binding's current event and stream time, which the
windowed tables read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cluster.codecs import FieldDescriptor
from cluster.context import Event, PartitionBinding

_VALUE, _ITEMS, _EVENTS = 0, 1, 2


class ProbeDone(Exception):
    """Raised into an agent run for probing, at its first `async for` step."""


@dataclass(frozen=True)
class GroupBy:
    """How an agent re-keys its stream: by a model field or a named function."""

    key: Any
    name: str

    def key_of(self, value: Any) -> Any:
        if isinstance(self.key, FieldDescriptor):
            return getattr(value, self.key.name)
        return self.key(value)


def group_by_spec(key: FieldDescriptor | Callable[[Any], Any], name: str | None) -> GroupBy:
    if name is None:
        if not isinstance(key, FieldDescriptor):
            raise TypeError(
                "group_by(callable) needs name=...: it names the repartition topic "
                "{app}-{agent}-{name}-repartition"
            )
        name = key.name
    return GroupBy(key, name)


class Stream:
    """What `@cluster.agent(topic)` functions receive (Faust's `stream`)."""

    def __init__(self, topic_name: str, probe: bool = False) -> None:
        self.topic_name = topic_name
        self.group_by_key: GroupBy | None = None
        self._probe = probe
        self._events: list[Event] = []
        self._i = 0
        self._n = 0
        self._mode = _VALUE
        self._binding: PartitionBinding | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._event_spans: Any = None  # tracing.EventSpans when per-event spans are on

    # -- what agent code calls ------------------------------------------------
    def group_by(self, key: FieldDescriptor | Callable[[Any], Any], *, name: str | None = None,
                 partitions: int | None = None) -> Stream:
        """Re-key through `{app}-{agent}-{name}-repartition`, so tables update on the key's owner."""
        spec = group_by_spec(key, name)
        if self.group_by_key is not None and self.group_by_key.name != spec.name:
            raise ValueError(f"stream of {self.topic_name!r} is already grouped by "
                             f"{self.group_by_key.name!r}; one group_by per agent")
        self.group_by_key = spec
        return self

    def items(self) -> Stream:
        self._mode = _ITEMS
        return self

    def events(self) -> Stream:
        self._mode = _EVENTS
        return self

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> Any:
        i = self._i
        if i < self._n:
            ev = self._events[i]
            self._i = i + 1
            binding = self._binding
            binding.event = ev  # type: ignore[union-attr]
            if ev.timestamp > binding.stream_time:  # type: ignore[union-attr]
                binding.stream_time = ev.timestamp  # type: ignore[union-attr]
            if self._event_spans is not None:
                self._event_spans.next(ev)
            mode = self._mode
            if mode == _VALUE:
                return ev.value
            return (ev.key, ev.value) if mode == _ITEMS else ev
        if self._probe:
            raise ProbeDone()
        return await self._next_batch()

    async def _next_batch(self) -> Any:
        if self._event_spans is not None:
            self._event_spans.end()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter
        return await self.__anext__()

    # -- what the partition actor calls ------------------------------------------
    def bind(self, binding: PartitionBinding) -> None:
        from cluster import tracing

        self._binding = binding
        ratio = tracing.per_event()
        self._event_spans = tracing.EventSpans(ratio) if ratio > 0 else None

    @property
    def current_index(self) -> int:
        return self._i

    async def feed(self, events: list[Event], agent_task: asyncio.Task[Any]) -> bool:
        """Hands `events` to the agent; True once it asked for more, False if it ended."""
        if self._i >= self._n:
            self._events, self._i, self._n = events, 0, len(events)
        self._drained = asyncio.get_running_loop().create_future()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        await asyncio.wait({self._drained, agent_task}, return_when=asyncio.FIRST_COMPLETED)
        return self._drained.done()

    def remaining(self) -> int:
        return self._n - self._i
