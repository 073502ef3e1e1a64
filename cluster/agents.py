"""Agents: async functions over a stream, run in every partition actor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from cluster.streams import GroupBy, ProbeDone, Stream
from cluster.topics import Topic


@dataclass
class Agent:
    """`@cluster.agent(topic)`: the function and where it reads from."""

    fn: Callable[[Stream], Coroutine[Any, Any, Any]]
    topic: Topic
    name: str
    group_by: GroupBy | None = None

    def repartition_topic(self, app: str) -> str | None:
        if self.group_by is None:
            return None
        return f"{app}-{self.name}-{self.group_by.name}-repartition"

    def probe(self) -> None:
        """Runs the agent's code up to its first event to learn its group_by.

        The repartition topic must exist before any partition starts, so the
        driver finds out what the agent re-keys by before deploying it.
        """
        stream = Stream(self.topic.name, probe=True)
        coro = self.fn(stream)
        try:
            asyncio.run(coro)
        except ProbeDone:
            pass
        self.group_by = stream.group_by_key

    async def send(self, key: Any = None, value: Any = None, **kwargs: Any) -> None:
        """Faust's `agent.send`: a record to the agent's topic."""
        await self.topic.send(key=key, value=value, **kwargs)

    def __call__(self, stream: Stream) -> Coroutine[Any, Any, Any]:
        return self.fn(stream)
