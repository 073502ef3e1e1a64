"""One table's state on one partition: the pure core every partition actor owns.

Hot state is a dict of decoded values; the store below is persistence only.
Changes are collected per batch and turned into changelog records by
`flush()` (the last value of each changed key, a tombstone for a delete), so
the actor writes one changelog batch and one store write batch per source
batch, never one per update.

Windowed tables keep an index of open windows (range -> keys) ordered by the
stream time at which each range closes. It is rebuilt from the store on open
and from the changelog on recovery, so restored windows expire like live ones,
and it only ever holds open windows: its size follows the number of open
windows, not the number of writes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from actors.stores.base import Store
from cluster.codecs import (
    Codec,
    decode_key,
    decode_windowed_key,
    encode_key,
    encode_windowed_key,
)
from cluster.windows import Range, Window

_DELETED = object()


@dataclass(frozen=True)
class ChangelogRecord:
    key: bytes
    value: bytes | None  # None is a tombstone


@dataclass(frozen=True)
class ClosedWindow:
    """A window whose stream time has passed its end plus expiry."""

    table: str
    partition: int
    key: Any
    range: Range
    value: Any

    @property
    def close_id(self) -> tuple[str, Any, float, float]:
        """Stable id for deduplicating at-least-once close callbacks."""
        return (self.table, self.key, self.range[0], self.range[1])


class TablePartition:
    """State of table `name` on partition `partition`.

    Keys of a windowed table are `(key, (start, end))` tuples at this level;
    the WindowSet API above turns `table[k] += 1` into updates of every range
    holding the event's timestamp.
    """

    def __init__(
        self,
        name: str,
        partition: int,
        store: Store,
        value_codec: Codec,
        window: Window | None = None,
        key_index: bool = False,
        cache_limit: int = 1_000_000,
        key_type: Any = None,
    ) -> None:
        self.name = name
        self.partition = partition
        self.store = store
        self.value_codec = value_codec
        self.window = window
        self.key_index_enabled = key_index
        # a Record key type: keys come back from json as dicts and are rebuilt as models
        self._key_model = key_type if hasattr(key_type, "from_dict") else None
        self._cache: dict[Any, Any] = {}
        self._dirty: set[Any] = set()
        self._cache_limit = cache_limit
        self._persistent = getattr(store, "persistent", True)
        # windowed bookkeeping: open ranges -> keys, a heap of (closes_at, range)
        self._open: dict[Range, set[Any]] = {}
        self._heap: list[tuple[float, Range]] = []
        self._key_index: dict[Any, set[Range]] = {}
        self.last_closed_window: float = 0.0
        self.closed_through: float = float("-inf")  # stream time of the last advance()
        self.late_events = 0
        self._load()

    # -- opening ----------------------------------------------------------
    def _load(self) -> None:
        """Rebuild the cache (memory) or the window index (any store) from the store."""
        if not self._persistent or self.window is not None:
            for kb, vb in self.store.items():
                key = self._decode_key(kb)
                if not self._persistent:
                    self._cache[key] = self.value_codec.loads(vb)
                if self.window is not None:
                    self._index_window(key)

    # -- key codec ---------------------------------------------------------
    def _encode_key(self, key: Any) -> bytes:
        if self.window is not None:
            k, r = key
            return encode_windowed_key(k, r)
        return encode_key(key)

    def _decode_key(self, data: bytes) -> Any:
        if self.window is not None:
            return decode_windowed_key(data)
        key = decode_key(data)
        return self._key_model.from_dict(key) if self._key_model is not None else key

    # -- plain access ---------------------------------------------------------
    def get(self, key: Any, default: Any = None) -> Any:
        try:
            value = self._cache[key]
        except KeyError:
            if not self._persistent:
                return default
            raw = self.store.get(self._encode_key(key))
            if raw is None:
                return default
            value = self._cache[key] = self.value_codec.loads(raw)
            return value
        return default if value is _DELETED else value

    def contains(self, key: Any) -> bool:
        return self.get(key, _DELETED) is not _DELETED

    def set(self, key: Any, value: Any) -> None:
        self._cache[key] = value
        self._dirty.add(key)
        if self.window is not None:
            self._index_window(key)

    def delete(self, key: Any) -> bool:
        """Deletes `key`; returns whether it existed."""
        existed = self.contains(key)
        self._cache[key] = _DELETED
        self._dirty.add(key)
        if self.window is not None:
            self._unindex_window(key)
        return existed

    def keys(self) -> Iterator[Any]:
        yield from (k for k, _ in self.items())

    def items(self) -> Iterator[tuple[Any, Any]]:
        cache = self._cache
        if self._persistent:
            for kb, vb in list(self.store.items()):
                key = self._decode_key(kb)
                if key not in cache:
                    yield key, self.value_codec.loads(vb)
        for key, value in list(cache.items()):
            if value is not _DELETED:
                yield key, value

    def __len__(self) -> int:
        return sum(1 for _ in self.items())

    def clear(self) -> None:
        for key in list(self.keys()):
            self.delete(key)

    # -- windows ------------------------------------------------------------
    def _index_window(self, key: tuple[Any, Range]) -> None:
        k, r = key
        keys = self._open.get(r)
        if keys is None:
            keys = self._open[r] = set()
            assert self.window is not None
            heapq.heappush(self._heap, (self.window.closes_at(r), r))
        keys.add(k)
        if self.key_index_enabled:
            self._key_index.setdefault(k, set()).add(r)

    def _unindex_window(self, key: tuple[Any, Range]) -> None:
        k, r = key
        keys = self._open.get(r)
        if keys is not None:
            keys.discard(k)
        self._drop_from_key_index(k, r)

    def _drop_from_key_index(self, k: Any, r: Range) -> None:
        if self.key_index_enabled:
            ranges = self._key_index.get(k)
            if ranges is not None:
                ranges.discard(r)
                if not ranges:
                    del self._key_index[k]

    def is_late(self, r: Range) -> bool:
        """Whether range `r` was already closed: a write to it is a late event.

        Late events are dropped and counted (one rule, documented): the
        window's final value was already handed to its close callback.
        """
        window = self.window
        return (window is not None and window.expires is not None
                and window.closes_at(r) < self.closed_through)

    def count_late(self) -> None:
        self.late_events += 1

    def advance(self, stream_time: float) -> list[ClosedWindow]:
        """Reports every window whose close time stream time has passed, once.

        The windows leave the open index (so they are reported once and late
        writes can be refused) but stay in the store until `forget()`: the
        caller removes them only after the close has been handed over.
        """
        if self.window is None or self.window.expires is None:
            return []
        closed: list[ClosedWindow] = []
        self.closed_through = max(self.closed_through, stream_time)
        while self._heap and self._heap[0][0] < stream_time:
            _, r = heapq.heappop(self._heap)
            keys = self._open.pop(r, set())
            for k in sorted(keys, key=repr):
                value = self.get((k, r))
                closed.append(ClosedWindow(self.name, self.partition, k, r, value))
                self._drop_from_key_index(k, r)
            self.last_closed_window = max(self.last_closed_window, r[0])
        return closed

    def forget(self, closed: Iterable[ClosedWindow]) -> None:
        """Removes closed windows from the store; each becomes a changelog tombstone."""
        for c in closed:
            self._cache[(c.key, c.range)] = _DELETED
            self._dirty.add((c.key, c.range))

    def newest_window_start(self) -> float | None:
        return max((r[0] for r in self._open), default=None)

    def key_index(self) -> dict[Any, set[Range]]:
        return self._key_index

    def open_window_count(self) -> int:
        return sum(len(keys) for keys in self._open.values())

    # -- batches ------------------------------------------------------------
    def pending(self) -> int:
        return len(self._dirty)

    def flush(self) -> list[ChangelogRecord]:
        """The batch's changelog records: the last value of each changed key."""
        if not self._dirty:
            return []
        dumps = self.value_codec.dumps
        records = []
        for key in self._dirty:
            value = self._cache.get(key, _DELETED)
            records.append(ChangelogRecord(
                self._encode_key(key), None if value is _DELETED else dumps(value)))
        self._dirty.clear()
        return records

    def commit(self, records: list[ChangelogRecord], changelog_offset: int | None) -> None:
        """Persists a flushed batch with the changelog offset it reached."""
        self.store.write_batch({r.key: r.value for r in records}, changelog_offset)
        for key in [k for k, v in self._cache.items() if v is _DELETED]:
            del self._cache[key]
        if self._persistent and len(self._cache) > self._cache_limit:
            self._cache.clear()

    def apply_changelog(self, records: list[tuple[bytes, bytes | None]], offset: int,
                        keep_dirty: bool = False) -> None:
        """Applies changelog records (recovery, standby) in one store write.

        `keep_dirty`: a key changed here and not flushed yet keeps its newer value
        (global tables, where other writers' records arrive through the tail).
        """
        puts: dict[bytes, bytes | None] = {}
        loads = self.value_codec.loads
        for kb, vb in records:
            key = self._decode_key(kb)
            if keep_dirty and key in self._dirty:
                continue
            puts[kb] = vb
            if vb is None:
                self._cache.pop(key, None)
                if self.window is not None:
                    self._unindex_window(key)
            else:
                if not self._persistent or key in self._cache:
                    self._cache[key] = loads(vb)
                if self.window is not None:
                    self._index_window(key)
        self.store.write_batch(puts, offset)

    @property
    def changelog_offset(self) -> int | None:
        return self.store.changelog_offset()
