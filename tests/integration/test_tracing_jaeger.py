"""End to end in a real Jaeger: producer span -> partition batch -> window-close task."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

import cluster
from cluster import tracing
from cluster.localdev import LocalJaeger
from cluster.topics import produce
from tests.helpers import serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def jaeger():
    """Built from its Go module on first use (minutes, cached), then started in a second."""
    with serving(LocalJaeger()) as server:
        yield server


def traces(query_url: str, service: str) -> list[dict]:
    with urllib.request.urlopen(f"{query_url}/api/traces?service={service}&limit=100",
                                timeout=10) as resp:
        return json.load(resp)["data"]


def test_one_trace_from_producer_to_close_task(jaeger, bootstrap, ray_local, topic_name):
    import asyncio

    service = f"rt-{topic_name}"[:60]
    settings = {"endpoint": f"http://{jaeger.endpoints['JAEGER_OTLP_GRPC_ENDPOINT']}",
                "service_name": service, "delay_ms": 100}
    app = cluster.Cluster(f"tr-{topic_name}", broker=f"kafka://{bootstrap}", tracing=settings,
                          idle_advance_after=0.3)
    src = app.topic(topic_name, partitions=2)
    counts = app.table("counts", default=int).tumbling(1, expires=0.5)

    @counts.on_window_close
    def closed(key, value):
        pass

    @app.agent(src)
    async def count(stream):
        async for ev in stream:
            counts[ev["k"]] += 1

    app.start()
    try:
        tracing.configure(settings, app.config.app, "test-producer")
        base = time.time() - 60
        with tracing.span("produce page view", kind=tracing.SpanKind.PRODUCER) as producer_span:
            headers = (("traceparent", tracing.traceparent()),)
            # the event, and a later one on the same key that closes its window
            records = [(b'"k"', b'{"k": "k"}', None, base, headers),
                       (b'"k"', b'{"k": "k"}', None, base + 5, headers)]
            asyncio.run(produce(bootstrap, topic_name, records))
        trace_id = format(producer_span.get_span_context().trace_id, "032x")
        tracing.flush()
        app.wait_idle()

        def complete_trace():
            for t in traces(jaeger.endpoints["JAEGER_QUERY_URL"], service):
                if t["traceID"] != trace_id:
                    continue
                names = {s["operationName"] for s in t["spans"]}
                if {"produce page view", "partition.batch", "window.close"} <= names:
                    return t
            return None

        deadline = time.monotonic() + 60
        trace = complete_trace()
        while trace is None and time.monotonic() < deadline:
            time.sleep(0.5)
            trace = complete_trace()
        assert trace is not None, f"trace {trace_id} never held producer, batch and close spans"
        spans = {s["operationName"]: s for s in trace["spans"]}
        pids = {trace["processes"][s["processID"]]["tags"][i]["value"]
                for s in spans.values()
                for i, tag in enumerate(trace["processes"][s["processID"]]["tags"])
                if tag["key"] == "process.pid"}
        assert len(pids) >= 2  # producer (driver), partition actor, close task
        batch, close = spans["partition.batch"], spans["window.close"]
        parent_of = {ref["spanID"] for ref in batch["references"] if ref["refType"] == "CHILD_OF"}
        assert spans["produce page view"]["spanID"] in parent_of, json.dumps(trace)[:3000]
        close_tags = {t["key"]: t["value"] for t in close["tags"]}
        assert close_tags["raytables.table"] == "counts"
    finally:
        tracing.configure(None, app.config.app, "test-producer")
        app.stop()
