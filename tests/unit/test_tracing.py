"""Span links with an in-memory exporter: producer -> batch -> changelog -> close task."""

from __future__ import annotations

import pytest

from cluster import tracing


@pytest.fixture
def memory_tracing():
    tracing.configure({"exporter": "memory"}, "app", "test", 3)
    exporter = tracing.memory_exporter()
    exporter.clear()
    yield exporter
    tracing.configure(None, "app", "test")
    tracing._state["key"] = None


def ids(span) -> tuple[int, int]:
    return span.context.trace_id, span.context.span_id


def test_batch_changelog_and_close_task_continue_the_producers_trace(memory_tracing):
    from actors.closes import run_close

    with tracing.span("produce"):
        record_headers = [("traceparent", tracing.traceparent())]
    untraced = [("other", b"x")]
    with tracing.span("produce again"):
        other_headers = [("traceparent", tracing.traceparent())]
    parent, links = tracing.batch_parent([untraced, record_headers, record_headers, other_headers])
    closed_with = {}
    with tracing.span("partition.batch", {"raytables.partition": 3}, parent=parent, links=links):
        changelog_headers = tracing.with_traceparent([("traceparent", b"stale"), ("k", b"v")])
        with tracing.span("window.close.dispatch"):
            trace = ({"exporter": "memory"}, "app", tracing.traceparent())

    def on_close(key, value):
        closed_with["args"] = (key, value)

    result = run_close(on_close, ("k", (0.0, 9.9)), 7, ("t", "k", 0.0, 9.9), 0, 0.0, trace)
    assert result["ok"] and closed_with["args"] == (("k", (0.0, 9.9)), 7)

    spans = {s.name: s for s in memory_tracing.get_finished_spans()}
    produce, batch = spans["produce"], spans["partition.batch"]
    dispatch, close = spans["window.close.dispatch"], spans["window.close"]
    assert {s.context.trace_id for s in spans.values() if s.name != "produce again"} == {
        produce.context.trace_id}
    assert batch.parent.span_id == produce.context.span_id
    assert dispatch.parent.span_id == batch.context.span_id
    assert close.parent.span_id == dispatch.context.span_id
    # the same producer span twice is one parent; another producer's span is a link
    assert [link.context.span_id for link in batch.links] == [spans["produce again"].context.span_id]
    assert batch.attributes["raytables.partition"] == 3
    assert batch.resource.attributes["raytables.partition"] == 3
    # the changelog record carries the batch span onward, replacing the old traceparent
    assert changelog_headers[0] == ("k", b"v")
    assert changelog_headers[1][1].decode().split("-")[2] == format(batch.context.span_id, "016x")


def test_errors_are_recorded_on_spans(memory_tracing):
    with pytest.raises(ValueError):
        with tracing.span("partition.batch"):
            raise ValueError("bad event")
    [span] = memory_tracing.get_finished_spans()
    assert span.status.status_code.name == "ERROR"
    assert span.events[0].name == "exception"


def test_standard_variables_turn_it_on(monkeypatch):
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert tracing.normalize(None) is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    assert tracing.normalize(None) == {} and tracing.normalize(False) is None
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.normalize(True) is None


def test_off_builds_no_span_and_leaves_headers_alone():
    tracing.configure(None, "app", "test")
    assert not tracing.enabled()
    with tracing.span("x") as s:
        assert s is None
    assert tracing.with_traceparent([("a", b"1")]) == (("a", b"1"),)
    assert tracing.traceparent() is None
    assert tracing.normalize(False) is None and tracing.normalize(True) == {}
    assert tracing.normalize("http://127.0.0.1:4317") == {"endpoint": "http://127.0.0.1:4317"}


def test_per_event_spans_are_opt_in_and_parent_the_agents_work():
    import asyncio

    from cluster.context import Event, PartitionBinding
    from cluster.streams import Stream

    tracing.configure({"exporter": "memory", "per_event": True}, "app", "events", 0)
    exporter = tracing.memory_exporter()
    exporter.clear()
    try:
        with tracing.span("produce"):
            headers = (("traceparent", tracing.traceparent()),)
        stream = Stream("t")
        stream.bind(PartitionBinding(partition=0, tables={}))
        events = [Event("t", 0, i, float(i), None, i, headers) for i in range(3)]
        sent = []

        async def agent(s):
            async for value in s:
                sent.append((value, tracing.traceparent()))

        async def main():
            task = asyncio.ensure_future(agent(stream))
            await stream.feed(events, task)
            task.cancel()

        asyncio.run(main())
        spans = [s for s in exporter.get_finished_spans() if s.name == "agent.event"]
        produce = next(s for s in exporter.get_finished_spans() if s.name == "produce")
        assert [s.attributes["messaging.kafka.offset"] for s in spans] == [0, 1, 2]
        assert all(s.parent.span_id == produce.context.span_id for s in spans)
        # what the agent sends while handling event i carries event i's span
        assert [tp.decode().split("-")[2] for _, tp in sent] == [
            format(s.context.span_id, "016x") for s in spans]
    finally:
        tracing.configure(None, "app", "events")
        tracing._state["key"] = None
