"""The store interface: one store per table partition, bytes in, bytes out.

The table core keeps decoded hot state in a dict and flushes it once per
batch; the store is only persistence. A flush is one ``write_batch`` that
applies the batch's puts and deletes *and* records the changelog offset they
came from, atomically, so a restart on the same node resumes the changelog
from that offset instead of from zero, and data and offset never disagree.

Errors are typed by what the caller should do about them (see ``StoreError``).
"""

from __future__ import annotations

import abc
import struct
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import ClassVar

__all__ = [
    "CHANGELOG_OFFSET_KEY",
    "Store",
    "StoreClosedError",
    "StoreCorruptedError",
    "StoreError",
    "StoreLockedError",
    "check_puts",
    "decode_offset",
    "encode_offset",
    "not_bytes",
]

#: Reserved key holding the applied changelog offset. It lives in the same
#: keyspace as the data, so it is written in the same atomic batch, and is
#: hidden from ``get``, ``items`` and ``len``. Table keys are JSON, which
#: never starts with a NUL byte.
CHANGELOG_OFFSET_KEY = b"\x00\x00raytables-meta/changelog_offset"

_OFFSET = struct.Struct(">q")


class StoreError(Exception):
    """Root of store errors: names the store's path and how to fix it.

    Subclasses say what to do: ``StoreLockedError`` wait or move the
    partition, ``StoreCorruptedError`` wipe the store and restore it from the
    changelog, ``StoreClosedError`` is a bug in the caller. Anything else is
    fatal for the partition.
    """

    def __init__(self, message: str, path: str | None = None, hint: str | None = None) -> None:
        self.path = path
        self.hint = hint
        text = message if path is None else f"{message} [store {path}]"
        super().__init__(text if hint is None else f"{text}: {hint}")


class StoreLockedError(StoreError):
    """Another process, or another open store in this one, holds the store."""


class StoreCorruptedError(StoreError):
    """The store's contents cannot be trusted: destroy it and restore from the changelog."""


class StoreClosedError(StoreError):
    """The store was used after ``close()``."""


def encode_offset(offset: int) -> bytes:
    """The changelog offset as 8 big-endian bytes (what the metadata key holds)."""
    return _OFFSET.pack(offset)


def decode_offset(data: bytes, path: str | None = None) -> int:
    """Inverse of ``encode_offset``; anything else means the store is corrupted."""
    if len(data) != _OFFSET.size:
        raise StoreCorruptedError(
            f"changelog offset metadata is {len(data)} bytes, expected {_OFFSET.size}",
            path,
            "destroy the store and let it restore from the changelog",
        )
    return int(_OFFSET.unpack(data)[0])


def check_puts(puts: Mapping[bytes, bytes | None], changelog_offset: int | None) -> None:
    """Reject what would silently break a store: the reserved key, non-int offsets.

    Bytes-ness of keys and values is checked while the batch is built, where
    it costs nothing extra.
    """
    if CHANGELOG_OFFSET_KEY in puts:
        raise ValueError(f"key {CHANGELOG_OFFSET_KEY!r} is reserved for store metadata")
    if changelog_offset is not None and (type(changelog_offset) is not int or changelog_offset < 0):
        raise ValueError(f"changelog_offset must be an int >= 0 or None, got {changelog_offset!r}")


def not_bytes(key: object, value: object) -> TypeError:
    """The error for a put whose key or value is not ``bytes``."""
    return TypeError(
        f"stores take bytes keys and bytes|None values, got {type(key).__name__} key "
        f"{key!r} -> {type(value).__name__}"
    )


class Store(abc.ABC):
    """Persistence for one table partition.

    ``persistent`` says whether data survives the process (the table core
    preloads everything from a store that does not, and only indexes windows
    of one that does). Iteration order is unspecified (RocksDB: bytewise key
    order; memory: insertion order).
    """

    persistent: ClassVar[bool]
    path: str | None

    @abc.abstractmethod
    def get(self, key: bytes) -> bytes | None:
        """The value under ``key``, or None."""

    @abc.abstractmethod
    def write_batch(self, puts: Mapping[bytes, bytes | None], changelog_offset: int | None) -> None:
        """Apply ``puts`` (a None value deletes) and record ``changelog_offset``, atomically.

        ``changelog_offset`` None leaves the recorded offset unchanged (e.g. a
        flush of an in-memory table with no changelog position).
        """

    @abc.abstractmethod
    def changelog_offset(self) -> int | None:
        """The last changelog offset applied, or None if none ever was."""

    @abc.abstractmethod
    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every key and value, without the metadata key."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of keys, without the metadata key."""

    @abc.abstractmethod
    def approximate_size_bytes(self) -> int:
        """Roughly how much memory or disk the store uses, for ``raytables status``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store (files stay). Idempotent."""

    @abc.abstractmethod
    def destroy(self) -> None:
        """Close and delete everything, e.g. before a restore from the changelog."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "" if self.path is None else f" {self.path}"
        return f"<{type(self).__name__}{where}>"
