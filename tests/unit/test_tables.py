"""Table and WindowSet semantics on the pure per-partition core (no Ray, no Kafka)."""

from __future__ import annotations

import operator
import time

import pytest

import cluster
from actors.stores import open_store
from actors.table_core import TablePartition
from cluster import context
from cluster.codecs import JSON
from cluster.context import Event, PartitionBinding
from cluster.tables import Table, TableSpec, TableWriteError, WindowWrapper
from cluster.windows import TumblingWindow


class Order(cluster.Record):
    item: str
    placed_at: float


def make(spec: TableSpec, partition: int = 0, store=None) -> tuple[TablePartition, PartitionBinding]:
    store = store if store is not None else open_store("memory://")
    core = TablePartition(spec.name, partition, store, JSON,
                          window=spec.window, key_index=spec.key_index)
    binding = PartitionBinding(partition=partition, tables={spec.name: core})
    context.bind(binding)
    return core, binding


@pytest.fixture(autouse=True)
def unbind():
    yield
    context.bind(None)


def at(binding: PartitionBinding, ts: float, value=None) -> None:
    """What the stream does per event: the current event and the stream time."""
    binding.event = Event("t", binding.partition, 0, ts, None, value)
    binding.stream_time = max(binding.stream_time, ts)


def changelog(core: TablePartition) -> dict[bytes, bytes | None]:
    records = core.flush()
    core.commit(records, None)
    return {r.key: r.value for r in records}


# -- plain tables -----------------------------------------------------------------------

def test_missing_key_returns_default_without_storing_it():
    table = Table(TableSpec("app", "t", default=int))
    core, _ = make(table.spec)
    assert table["a"] == 0
    assert "a" not in table and len(table) == 0
    assert changelog(core) == {}


def test_missing_key_without_default_raises_keyerror():
    table = Table(TableSpec("app", "t"))
    make(table.spec)
    with pytest.raises(KeyError):
        table["nope"]
    assert table.get("nope") is None and table.get("nope", 5) == 5


def test_every_change_is_one_changelog_record_and_delete_is_a_tombstone():
    table = Table(TableSpec("app", "t", default=int))
    core, _ = make(table.spec)
    table["a"] += 1
    table["a"] += 1
    table["b"] = {"x": [1, 2]}
    assert changelog(core) == {b'"a"': b"2", b'"b"': b'{"x": [1, 2]}'}
    del table["a"]
    table.update({"c": 3}, d=4)
    assert changelog(core) == {b'"a"': None, b'"c"': b"3", b'"d"': b"4"}
    assert table.pop("c") == 3 and table.pop("zz", "dflt") == "dflt"
    assert sorted(table.keys()) == ["b", "d"]
    assert sorted(table.values(), key=repr) == [4, {"x": [1, 2]}]
    assert dict(table.items()) == {"b": {"x": [1, 2]}, "d": 4}
    table.clear()
    assert len(table) == 0
    assert changelog(core) == {b'"b"': None, b'"c"': None, b'"d"': None}
    with pytest.raises(KeyError):
        del table["gone"]


def test_in_place_mutation_is_not_logged_until_reassigned():
    table = Table(TableSpec("app", "t", default=list))
    core, _ = make(table.spec)
    table["l"] = [1]
    changelog(core)
    table["l"].append(2)
    assert changelog(core) == {}
    table["l"] = table["l"]
    assert changelog(core) == {b'"l"': b"[1, 2]"}


def test_writes_outside_an_agent_are_refused():
    table = Table(TableSpec("app", "t", default=int))
    with pytest.raises(TableWriteError, match="outside an agent"):
        table["a"] = 1
    with pytest.raises(TableWriteError):
        del table["a"]


# -- windowed tables: Faust's walk-throughs -----------------------------------------------

def hopping_table(**kw) -> WindowWrapper:
    return Table(TableSpec("app", "h", default=int)).hopping(10, 5, **kw)


def test_hopping_increments_every_range_and_reads_like_faust():
    table = hopping_table()
    core, b = make(table.spec)
    for ts in (1, 6, 12, 12.5, 17):
        at(b, ts)
        table["k"] += 1
    # ranges: ts 1 -> (-5,4.9),(0,9.9); 6 -> (0,9.9),(5,14.9); 12, 12.5 -> (5,14.9),(10,19.9);
    # 17 -> (10,19.9),(15,24.9)
    ws = table["k"]
    assert ws[(0.0, 9.9)] == 2 and ws[(5.0, 14.9)] == 3 and ws[(10.0, 19.9)] == 3
    assert ws[(15.0, 24.9)] == 1 and ws[(-5.0, 4.9)] == 1
    assert ws.value() == 1 == ws.current()  # current(17) is the latest range holding 17
    assert ws.delta(5) == 3  # current(12) = (10, 19.9)
    assert ws.delta(10) == 3  # current(7) = (5, 14.9), the latest range holding 7
    assert ws.delta(15) == 2  # current(2) = (0, 9.9)
    assert ws.now() == 1  # partition stream time is 17


def test_tumbling_current_now_delta():
    table = Table(TableSpec("app", "t", default=int)).tumbling(10)
    core, b = make(table.spec)
    for ts, n in ((3, 1), (8, 2), (15, 5), (19.95, 1), (21, 7)):
        at(b, ts)
        table["k"] += n
    at(b, 15)  # an older event: current() uses its timestamp, now() the stream time
    ws = table["k"]
    assert ws.current() == 6 and ws.now() == 7 and ws.delta(10) == 3
    assert ws.value() == 6


def test_every_in_place_operator_applies_to_every_range():
    table = Table(TableSpec("app", "t", default=lambda: 12)).hopping(10, 5)
    core, b = make(table.spec)
    at(b, 12)
    expected = 12
    for inplace, binary, operand in (
            (operator.iadd, operator.add, 3), (operator.isub, operator.sub, 1),
            (operator.imul, operator.mul, 4), (operator.ifloordiv, operator.floordiv, 3),
            (operator.imod, operator.mod, 7), (operator.ipow, operator.pow, 2),
            (operator.ilshift, operator.lshift, 2), (operator.irshift, operator.rshift, 1),
            (operator.iand, operator.and_, 0b110), (operator.ixor, operator.xor, 0b011),
            (operator.ior, operator.or_, 0b1000)):
        table["k"] = inplace(table["k"], operand)  # what `table["k"] op= operand` does
        expected = binary(expected, operand)
        assert table["k"][(5.0, 14.9)] == expected == table["k"][(10.0, 19.9)], inplace
    ws = table["k"]
    ws /= 2
    assert table["k"][(5.0, 14.9)] == expected / 2


def test_set_assigns_all_ranges_and_relativity():
    table = Table(TableSpec("app", "o", default=int)).hopping(10, 5)
    core, b = make(table.spec)
    at(b, 12)
    table["k"] = 9
    assert table["k"][(5.0, 14.9)] == 9 and table["k"][(10.0, 19.9)] == 9
    by_field = table.relative_to_field(Order.placed_at)
    at(b, 100, Order(item="x", placed_at=3.0))
    by_field["k"] += 1
    assert table["k"][(0.0, 9.9)] == 1 and table["k"][(-5.0, 4.9)] == 1
    assert by_field["k"].value() == 1
    by_stream = table.relative_to_stream()
    assert by_stream.get_timestamp() == 100
    by_now = table.relative_to_now()
    assert abs(by_now.get_timestamp() - time.time()) < 5
    fixed = table.relative_to(42.0)
    assert fixed.get_timestamp() == 42.0


def test_key_index_views():
    table = Table(TableSpec("app", "ki", default=int)).tumbling(10, key_index=True)
    core, b = make(table.spec)
    for key, ts in (("a", 1), ("b", 2), ("a", 11)):
        at(b, ts)
        table[key] += 1
    assert sorted(table.keys()) == ["a", "b"]
    assert {k: ws.now() for k, ws in table.items()} == {"a": 1, "b": 0}
    assert sorted(ws.delta(10) for ws in table.values()) == [1, 1]
    assert "a" in table and "z" not in table
    plain = Table(TableSpec("app", "noki", default=int)).tumbling(10)
    with pytest.raises(TypeError, match="key_index=True"):
        list(plain.keys())


def test_windowed_changelog_bytes_match_faust():
    table = Table(TableSpec("app", "w", default=int)).tumbling(10)
    core, b = make(table.spec)
    at(b, 12)
    table["a"] += 1
    assert changelog(core) == {b'["a", [10.0, 19.9]]': b"1"}


# -- expiry and close, per partition ---------------------------------------------------

def test_windows_close_per_partition_once_with_their_final_values():
    spec = TableSpec("app", "c", default=int, window=TumblingWindow(10, expires=5), key_index=True)
    table = WindowWrapper(spec)
    cores = []
    for partition in (0, 1):
        core, b = make(spec, partition)
        for ts in (1, 2, 13):
            at(b, ts)
            table[f"k{partition}"] += 1
        changelog(core)
        cores.append(core)
    # stream time 14.9: window (0, 9.9) closes after 10 + 5 = 15
    assert cores[0].advance(14.9) == [] and cores[1].advance(14.9) == []
    for partition, core in enumerate(cores):
        closed = core.advance(15.5)
        assert [(c.key, c.range, c.value) for c in closed] == [(f"k{partition}", (0.0, 9.9), 2)]
        assert closed[0].close_id == ("c", f"k{partition}", 0.0, 9.9)
        assert core.advance(16) == []  # reported once
        assert core.last_closed_window == 0.0
        core.forget(closed)
        assert changelog(core) == {f'["k{partition}", [0.0, 9.9]]'.encode(): None}
        assert core.key_index() == {f"k{partition}": {(10.0, 19.9)}}
        assert core.open_window_count() == 1


def test_late_event_into_closed_window_is_dropped_and_counted():
    spec = TableSpec("app", "late", default=int, window=TumblingWindow(10, expires=0.5))
    table = WindowWrapper(spec)
    core, b = make(spec)
    at(b, 5)
    table["k"] += 1
    at(b, 12)
    table["k"] += 1
    core.forget(core.advance(b.stream_time))
    at(b, 6)  # window (0, 9.9) closed at 10.5
    table["k"] += 1
    assert core.late_events == 1
    assert table["k"][(0.0, 9.9)] == 0 and table["k"][(10.0, 19.9)] == 1


def test_bookkeeping_is_bounded_by_open_windows_not_writes():
    spec = TableSpec("app", "b", default=int, window=TumblingWindow(1, expires=1), key_index=True)
    table = WindowWrapper(spec)
    core, b = make(spec)
    for i in range(5000):
        at(b, i / 10)
        table[f"k{i % 3}"] += 1
        if i % 50 == 0:
            core.forget(core.advance(b.stream_time))
            changelog(core)
    core.forget(core.advance(b.stream_time))
    assert core.open_window_count() <= 3 * 3
    assert len(core.key_index()) <= 3
    assert len(core._heap) <= 3


def test_windows_restored_from_a_reopened_store_expire(tmp_path):
    spec = TableSpec("app", "r", default=int, window=TumblingWindow(10, expires=1))
    table = WindowWrapper(spec)
    store = open_store("rocksdb://", tmp_path / "r")
    core, b = make(spec, store=store)
    at(b, 3)
    table["a"] += 2
    records = core.flush()
    core.commit(records, 41)
    store.close()
    reopened = open_store("rocksdb://", tmp_path / "r")
    core2, b2 = make(spec, store=reopened)
    assert core2.changelog_offset == 41
    assert table["a"][(0.0, 9.9)] == 2
    assert [(c.key, c.value) for c in core2.advance(11.5)] == [("a", 2)]
    reopened.close()


@pytest.mark.parametrize("url", ["memory://", "rocksdb://"])
def test_changelog_apply_rebuilds_the_same_state(url, tmp_path):
    spec = TableSpec("app", "ap", default=int)
    table = Table(spec)
    core, _ = make(spec, store=open_store("memory://"))
    log = []
    for i in range(50):
        table[f"k{i % 7}"] += i
        if i % 9 == 0:
            del table[f"k{i % 7}"]
        records = core.flush()
        core.commit(records, i)
        log.extend((r.key, r.value) for r in records)
    expected = dict(table.items())
    store = open_store(url, None if url == "memory://" else tmp_path / "ap")
    rebuilt, _ = make(spec, store=store)
    for start in range(0, len(log), 10):
        rebuilt.apply_changelog(log[start:start + 10], start + 10)
    assert dict(rebuilt.items()) == expected
    assert rebuilt.changelog_offset == len(log) - (len(log) % 10 or 10) + 10
    store.close()
