"""OpenTelemetry for every process of an app: driver, coordinator, partitions, close tasks.

Off by default, and then no span is ever built (the hot path checks one
boolean per batch). On with `cluster.init(..., tracing=True)` (OTLP to
`OTEL_EXPORTER_OTLP_ENDPOINT`, default 127.0.0.1:4317), a URL, or a dict
(`endpoint`, `protocol` "grpc"|"http", `exporter` "otlp"|"memory"|"console",
`per_event` for one span per event, `service_name`). The standard `OTEL_*`
variables apply; `OTEL_SDK_DISABLED=true` turns it off. Context travels
explicitly: W3C `traceparent` in Kafka headers and in close-task arguments,
not through Ray's alpha tracing hook.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_state: dict[str, Any] = {"enabled": False, "tracer": None, "provider": None, "memory": None,
                          "per_event": False, "key": None}


def normalize(setting: Any) -> dict[str, Any] | None:
    """`tracing=` as given by the user -> a plain dict shipped to every actor (or None: off)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    if setting is None:  # not chosen in code: the standard variables decide
        exporter = os.environ.get("OTEL_TRACES_EXPORTER", "")
        if exporter == "none" or not (exporter or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
            return None
        return {}
    if setting is False:
        return None
    if setting is True:
        return {}
    if isinstance(setting, str):
        return {"endpoint": setting}
    if isinstance(setting, Mapping):
        return dict(setting)
    raise ValueError(f"tracing={setting!r}: use True, an OTLP endpoint URL or a dict")


def configure(settings: dict[str, Any] | None, app: str, role: str,
              partition: int | None = None) -> None:
    """Sets up this process's tracer provider once (idempotent per settings and role)."""
    if settings is None:
        _state["enabled"] = False
        return
    key = (repr(sorted(settings.items())), app, role, partition)
    if _state["key"] == key:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    attributes: dict[str, Any] = {
        "service.name": settings.get("service_name") or os.environ.get("OTEL_SERVICE_NAME")
        or f"raytables-{app}",
        "raytables.app": app, "raytables.role": role, "process.pid": os.getpid(),
    }
    if partition is not None:
        attributes["raytables.partition"] = partition
    node = _node_id()
    if node:
        attributes["raytables.node"] = node
    provider = TracerProvider(resource=Resource.create(attributes))
    kind = settings.get("exporter", "otlp")
    if kind == "memory":
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = _state["memory"] = _state["memory"] or InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        provider.add_span_processor(BatchSpanProcessor(
            _otlp_exporter(settings), schedule_delay_millis=int(settings.get("delay_ms", 500))))
    old = _state["provider"]
    if old is not None and kind != "memory":  # shutting down would stop the shared exporter
        old.shutdown()
    _state.update(enabled=True, provider=provider, key=key,
                  tracer=provider.get_tracer("raytables"),
                  per_event=settings.get("per_event", False))


def _otlp_exporter(settings: dict[str, Any]) -> Any:
    endpoint = settings.get("endpoint") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    protocol = settings.get("protocol") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        url = (endpoint or "http://127.0.0.1:4318").rstrip("/")
        return OTLPSpanExporter(endpoint=url if url.endswith("/v1/traces") else f"{url}/v1/traces")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

    return Grpc(endpoint=endpoint or "http://127.0.0.1:4317", insecure=True)


def _node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001
        return None


def enabled() -> bool:
    return _state["enabled"]


def per_event() -> float:
    """Fraction of events that get a span of their own (opt-in: `per_event=True` or a ratio)."""
    if not _state["enabled"]:
        return 0.0
    value = _state["per_event"]
    return 1.0 if value is True else float(value or 0.0)


class EventSpans:
    """One span per event (or a sampled share), open while the agent handles the event.

    Started when the stream hands out an event and ended when the agent asks for
    the next one, so what the agent does in between (table writes, sends) happens
    inside it; its parent is the event's own `traceparent` when it carries one.
    """

    def __init__(self, ratio: float) -> None:
        import random

        self.ratio = ratio
        self._random = random.random
        self._span: Span | None = None
        self._token: Any = None

    def next(self, event: Any) -> None:
        self.end()
        if self.ratio < 1.0 and self._random() >= self.ratio:
            return
        parent = context_from_headers(event.headers)
        self._span = _state["tracer"].start_span(
            "agent.event", context=parent, kind=SpanKind.CONSUMER,
            attributes={"messaging.destination.name": event.topic,
                        "messaging.kafka.partition": event.partition,
                        "messaging.kafka.offset": event.offset})
        self._token = otel_context.attach(trace.set_span_in_context(self._span))

    def end(self) -> None:
        if self._span is not None:
            otel_context.detach(self._token)
            self._span.end()
            self._span, self._token = None, None


def memory_exporter() -> Any:
    """The in-memory exporter of `exporter="memory"` (tests)."""
    return _state["memory"]


def flush(timeout_ms: int = 5000) -> None:
    provider = _state["provider"]
    if provider is not None:
        provider.force_flush(timeout_ms)


# -- context ------------------------------------------------------------------------

class _HeaderGetter(DefaultGetter):
    def get(self, carrier: Any, key: str) -> list[str] | None:
        for k, v in carrier:
            if k == key:
                return [v.decode() if isinstance(v, bytes) else v]
        return None

    def keys(self, carrier: Any) -> list[str]:
        return [k for k, _ in carrier]


_getter = _HeaderGetter()


def context_from_headers(headers: Iterable[tuple[str, bytes]] | None) -> Any:
    """The W3C context a Kafka record carries, or None."""
    if not headers:
        return None
    headers = list(headers)
    if not any(k == "traceparent" for k, _ in headers):
        return None
    return _propagator.extract(headers, getter=_getter)


def traceparent() -> bytes | None:
    """The current span's context as a `traceparent` header value."""
    if not _state["enabled"]:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    value = carrier.get("traceparent")
    return value.encode() if value else None


def with_traceparent(headers: Iterable[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    """Headers with `traceparent` replaced by the current span's (context carried onward)."""
    tp = traceparent()
    if tp is None:
        return tuple(headers)
    return (*((k, v) for k, v in headers if k != "traceparent"), ("traceparent", tp))


def context_from_traceparent(value: bytes | str | None) -> Any:
    if not value:
        return None
    return _propagator.extract({"traceparent": value.decode() if isinstance(value, bytes)
                                else value})


# -- spans --------------------------------------------------------------------------

@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None, parent: Any = None,
         links: Iterable[Any] = (), kind: SpanKind = SpanKind.INTERNAL) -> Iterator[Span | None]:
    """A span when tracing is on (errors recorded on it), nothing at all when off."""
    if not _state["enabled"]:
        yield None
        return
    tracer = _state["tracer"]
    link_objs = [Link(trace.get_current_span(c).get_span_context()) for c in links]
    token = otel_context.attach(parent) if parent is not None else None
    try:
        with tracer.start_as_current_span(name, attributes=dict(attributes or {}), kind=kind,
                                          links=link_objs, record_exception=True,
                                          set_status_on_exception=True) as s:
            yield s
    finally:
        if token is not None:
            otel_context.detach(token)


def batch_parent(headers_list: Iterable[Any], max_links: int = 16) -> tuple[Any, list[Any]]:
    """A batch span continues the first traced record's context and links the next ones."""
    parent, links, seen = None, [], set()
    for headers in headers_list:
        ctx = context_from_headers(headers)
        if ctx is None:
            continue
        span_id = trace.get_current_span(ctx).get_span_context().span_id
        if span_id in seen:  # many records of one producer span: one parent, no self-links
            continue
        seen.add(span_id)
        if parent is None:
            parent = ctx
        elif len(links) < max_links:
            links.append(ctx)
        else:
            break
    return parent, links


def set_error(s: Span | None, exc: BaseException) -> None:
    if s is not None:
        s.record_exception(exc)
        s.set_status(Status(StatusCode.ERROR, repr(exc)))
