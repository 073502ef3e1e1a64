"""In-memory store: a dict per table partition; nothing survives the process.

For tests, development and tables that are cheap to rebuild from their
changelog. Behaves like ``RocksDBStore`` (bytes only, atomic batches, hidden
offset, errors after close) so code tested against it holds on RocksDB.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from actors.stores.base import Store, StoreClosedError, check_puts, not_bytes

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """A dict of bytes to bytes plus the last applied changelog offset."""

    persistent = False

    def __init__(self) -> None:
        self.path = None
        self._data: dict[bytes, bytes] | None = {}
        self._offset: int | None = None
        self._size = 0

    def _live(self) -> dict[bytes, bytes]:
        if self._data is None:
            raise self._closed()
        return self._data

    def get(self, key: bytes) -> bytes | None:
        try:
            return self._data.get(key)  # type: ignore[union-attr]
        except AttributeError:
            raise self._closed() from None

    def write_batch(self, puts: Mapping[bytes, bytes | None], changelog_offset: int | None) -> None:
        data = self._live()
        check_puts(puts, changelog_offset)
        for key, value in puts.items():
            if type(key) is not bytes or not (value is None or type(value) is bytes):
                raise not_bytes(key, value)
        # Validated first, applied second: a bad batch leaves the store untouched.
        size = self._size
        for key, value in puts.items():
            old = data.pop(key, None)
            if old is not None:
                size -= len(key) + len(old)
            if value is not None:
                data[key] = value
                size += len(key) + len(value)
        self._size = size
        if changelog_offset is not None:
            self._offset = changelog_offset

    def changelog_offset(self) -> int | None:
        self._live()
        return self._offset

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        # A snapshot, so callers may write while they iterate (as with RocksDB).
        return iter(list(self._live().items()))

    def __len__(self) -> int:
        return len(self._live())

    def approximate_size_bytes(self) -> int:
        """Bytes of keys and values held (not Python object overhead)."""
        self._live()
        return self._size

    def close(self) -> None:
        self._data = None

    def destroy(self) -> None:
        self._data = None
        self._offset = None
        self._size = 0

    def _closed(self) -> StoreClosedError:
        return StoreClosedError("memory store used after close()", None, "open a new store")
