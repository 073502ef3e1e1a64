"""Window-close callbacks as Ray tasks, at least once, with bounded backpressure.

A closed window stays in the store until its task has finished (succeeded, or
failed past its retries and been reported); only then is it forgotten and
tombstoned. A partition that dies before that leaves the window in the
changelog, and its successor closes it again: callbacks may run twice, never
zero times, and each call carries a stable id (table, key, start, end).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from typing import Any

import ray

from actors.table_core import ClosedWindow

log = logging.getLogger("raytables.closes")


def run_close(fn: Any, key: Any, value: Any, close_id: tuple[Any, ...], retries: int,
              backoff: float, trace: tuple[Any, str, bytes | None] | None = None) -> dict[str, Any]:
    """Body of the close task: the user's `fn(key, value)`, retried with backoff.

    `trace` is (tracing settings, app, traceparent of the span that closed the
    window): the task's span continues that trace in this process.
    """
    if trace is None or trace[0] is None:
        return _call_close(fn, key, value, close_id, retries, backoff)
    from cluster import tracing

    settings, app, parent = trace
    tracing.configure(settings, app, "close-task")
    attrs = {"raytables.table": str(close_id[0]), "raytables.window.start": close_id[2],
             "raytables.window.end": close_id[3]}
    with tracing.span("window.close", attrs, parent=tracing.context_from_traceparent(parent)) as s:
        result = _call_close(fn, key, value, close_id, retries, backoff)
        if s is not None and not result["ok"]:
            s.set_status(tracing.Status(tracing.StatusCode.ERROR, str(result.get("error"))))
    tracing.flush(2000)
    return result


def _call_close(fn: Any, key: Any, value: Any, close_id: tuple[Any, ...], retries: int,
                backoff: float) -> dict[str, Any]:
    params = inspect.signature(fn).parameters
    pass_id = "close_id" in params
    error = None
    for attempt in range(retries + 1):
        try:
            result = fn(key, value, close_id=close_id) if pass_id else fn(key, value)
            if inspect.isawaitable(result):
                asyncio.run(_await(result))
            return {"ok": True, "attempts": attempt + 1, "pid": os.getpid()}
        except Exception as exc:  # noqa: BLE001 - reported to the partition, never raised
            error = repr(exc)
            if attempt < retries:
                time.sleep(backoff * (2 ** attempt))
    return {"ok": False, "attempts": retries + 1, "error": error, "pid": os.getpid()}


async def _await(awaitable: Any) -> Any:
    return await awaitable


_remote_close = ray.remote(run_close)


class CloseDispatcher:
    """Submits close tasks for one partition and keeps at most N in flight."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self._in_flight: dict[asyncio.Future[Any], tuple[Any, ClosedWindow]] = {}
        self.counts = {"dispatched": 0, "succeeded": 0, "failed": 0}
        self.failures: list[dict[str, Any]] = []
        self._fn_refs: dict[str, Any] = {}  # each callback pickled once, not per close

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def dispatch(self, table: Any, closed: ClosedWindow) -> None:
        while len(self._in_flight) >= self.config.max_inflight_closes:
            await asyncio.wait(list(self._in_flight), return_when=asyncio.FIRST_COMPLETED)
        options = {**self.config.close_task_options, **table.close_options}
        retries = options.pop("retries", self.config.close_retries)
        backoff = options.pop("backoff", 0.2)
        fn = self._fn_refs.get(table.name)
        if fn is None:
            fn = self._fn_refs[table.name] = ray.put(table.on_window_close)
        trace = None
        from cluster import tracing

        if tracing.enabled():
            with tracing.span("window.close.dispatch", {"raytables.table": table.name,
                                                        "raytables.partition": closed.partition}):
                trace = (self.config.tracing, self.config.app, tracing.traceparent())
        ref = _remote_close.options(max_retries=3, **options).remote(
            fn, (closed.key, closed.range), closed.value, closed.close_id, retries, backoff,
            trace)
        fut = asyncio.wrap_future(ref.future())
        self._in_flight[fut] = (table, closed)
        self.counts["dispatched"] += 1
        fut.add_done_callback(self._finished)

    def _finished(self, fut: asyncio.Future[Any]) -> None:
        table, closed = self._in_flight.pop(fut)
        try:
            result = fut.result()
        except Exception as exc:  # noqa: BLE001 - the task itself died past Ray's retries
            result = {"ok": False, "error": repr(exc)}
        if result.get("ok"):
            self.counts["succeeded"] += 1
        else:
            self.counts["failed"] += 1
            self._report(table, closed, result)
        self.runtime.cores[table.name].forget([closed])

    def _report(self, table: Any, closed: ClosedWindow, result: dict[str, Any]) -> None:
        log.error("window close of table %r key %r window %r failed after %s attempts: %s",
                  table.name, closed.key, closed.range, result.get("attempts"), result.get("error"))
        if len(self.failures) < 100:
            self.failures.append({"table": table.name, "key": repr(closed.key),
                                  "window": closed.range, "error": result.get("error")})
        dlq = self.config.dead_letter_topic
        if dlq:
            from cluster.codecs import JSON, encode_windowed_key

            self.runtime.binding.outbox.append((
                dlq, encode_windowed_key(closed.key, closed.range), JSON.dumps(closed.value),
                None, None, (("raytables-error", str(result.get("error")).encode()[:1000]),
                             ("raytables-close-table", table.name.encode()))))

    async def drain(self, timeout: float) -> None:
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=timeout)

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "in_flight": len(self._in_flight),
                "failures": list(self.failures[-10:])}
