"""RocksDB store (through rocksdict): a table partition's state on local disk.

Tuned for dozens of partition stores in one node: every store in a process
shares one LRU block cache and one write-buffer manager (a cap on all
memtables together), and each store has small, bounded write buffers.

Tuning keys accepted in ``options`` (defaults in ``DEFAULT_OPTIONS``):

==========================  ==================================================
``write_buffer_size``        bytes per memtable of this store
``max_write_buffer_number``  memtables per store before writes wait on flush
``block_cache_size``         bytes of the process-wide block cache
``total_write_buffer_size``  bytes of all memtables in the process together
``max_open_files``           file handles per store (-1: unlimited)
``target_file_size_base``    bytes per SST file at level 1
``max_background_jobs``      flush/compaction threads per store
``compression``              "none", "lz4", "zstd" or "snappy"
``bloom_filter_bits``        bits per key of the bloom filter (0: none)
==========================  ==================================================

The two process-wide sizes grow to the largest value any store asked for;
they never shrink while the process lives.

All rocksdict exceptions are turned into ``StoreError`` subclasses in one
place, ``_translate``; a held lock is recognised by probing the ``LOCK``
file, not by reading RocksDB's message.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

from rocksdict import (
    BlockBasedOptions,
    Cache,
    DbClosedError,
    DBCompressionType,
    Options,
    Rdict,
    WriteBatch,
    WriteBufferManager,
)

from actors.stores.base import (
    CHANGELOG_OFFSET_KEY,
    Store,
    StoreClosedError,
    StoreError,
    StoreLockedError,
    check_puts,
    decode_offset,
    encode_offset,
    not_bytes,
)

__all__ = ["DEFAULT_OPTIONS", "RocksDBStore"]

MiB = 1 << 20

DEFAULT_OPTIONS: dict[str, Any] = {
    "write_buffer_size": 8 * MiB,
    "max_write_buffer_number": 2,
    "block_cache_size": 64 * MiB,
    "total_write_buffer_size": 256 * MiB,
    "max_open_files": 256,
    "target_file_size_base": 16 * MiB,
    "max_background_jobs": 2,
    "compression": "lz4",
    "bloom_filter_bits": 10,
}
_MINIMUM = {"bloom_filter_bits": 0}
_UNLIMITED = {"max_open_files": -1}
_COMPRESSION = {
    "none": DBCompressionType.none,
    "lz4": DBCompressionType.lz4,
    "zstd": DBCompressionType.zstd,
    "snappy": DBCompressionType.snappy,
}


def validate_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by ``options``; an unknown key or bad value is a ValueError.

    Checked before anything touches the disk, so a typo fails at startup.
    """
    merged = dict(DEFAULT_OPTIONS)
    for key, value in (options or {}).items():
        if key not in DEFAULT_OPTIONS:
            raise ValueError(
                f"unknown RocksDB option {key!r}; known options: {', '.join(DEFAULT_OPTIONS)}"
            )
        if key == "compression":
            if value not in _COMPRESSION:
                raise ValueError(f"compression must be one of {list(_COMPRESSION)}, got {value!r}")
        elif not (
            type(value) is int and (value >= _MINIMUM.get(key, 1) or value == _UNLIMITED.get(key))
        ):
            low = _MINIMUM.get(key, 1)
            raise ValueError(f"RocksDB option {key!r} must be an int >= {low}, got {value!r}")
        merged[key] = value
    return merged


# --- process-wide resources ----------------------------------------------------------

_shared_lock = threading.Lock()
_cache: Cache | None = None
_cache_size = 0
_write_buffers: WriteBufferManager | None = None
_write_buffers_size = 0
# Stores open in this process, by real path. RocksDB allows one opener per
# directory; knowing our own openers lets us fail fast with a clear error and
# keeps the lock probe below away from locks this process holds.
_open_paths: set[str] = set()


def _shared_cache(size: int) -> Cache:
    global _cache, _cache_size
    with _shared_lock:
        if _cache is None:
            _cache, _cache_size = Cache(size), size
        elif size > _cache_size:
            _cache.set_capacity(size)
            _cache_size = size
        return _cache


def _shared_write_buffers(size: int) -> WriteBufferManager:
    global _write_buffers, _write_buffers_size
    with _shared_lock:
        if _write_buffers is None:
            _write_buffers, _write_buffers_size = WriteBufferManager(size, False), size
        elif size > _write_buffers_size:
            _write_buffers.set_buffer_size(size)
            _write_buffers_size = size
        return _write_buffers


def _rocksdb_options(tuning: Mapping[str, Any]) -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.set_write_buffer_size(tuning["write_buffer_size"])
    opts.set_max_write_buffer_number(tuning["max_write_buffer_number"])
    opts.set_write_buffer_manager(_shared_write_buffers(tuning["total_write_buffer_size"]))
    opts.set_max_open_files(tuning["max_open_files"])
    opts.set_target_file_size_base(tuning["target_file_size_base"])
    opts.set_max_background_jobs(tuning["max_background_jobs"])
    opts.set_compression_type(_COMPRESSION[tuning["compression"]]())
    # Dozens of stores per node: keep RocksDB's own info logs small.
    opts.set_keep_log_file_num(2)
    opts.set_max_log_file_size(MiB)
    table = BlockBasedOptions()
    table.set_block_cache(_shared_cache(tuning["block_cache_size"]))
    if tuning["bloom_filter_bits"]:
        table.set_bloom_filter(tuning["bloom_filter_bits"], False)
    opts.set_block_based_table_factory(table)
    return opts


# --- the error adapter ---------------------------------------------------------------


def _locked_by_another_process(path: str) -> bool:
    """Whether another process holds RocksDB's ``LOCK`` file (an fcntl lock).

    Only called after an open failed and never for a path this process has
    open: closing any descriptor of a file drops this process's own fcntl
    locks on it.
    """
    try:
        fd = os.open(os.path.join(path, "LOCK"), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EACCES, errno.EAGAIN)
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _translate(exc: BaseException, path: str, action: str) -> Exception:
    """The one place rocksdict errors become ours."""
    if isinstance(exc, (StoreError, ValueError, TypeError)):
        return exc  # type: ignore[return-value]
    if isinstance(exc, DbClosedError):
        return StoreClosedError(
            f"RocksDB store used after close() ({action})",
            path,
            "open it again with RocksDBStore(path)",
        )
    if isinstance(exc, KeyError):  # rocksdict's raw mode rejects non-bytes keys this way
        return TypeError(f"RocksDB store keys and values must be bytes ({action}): {exc}")
    if action == "open" and _locked_by_another_process(path):
        return StoreLockedError(
            "another process holds the RocksDB lock",
            path,
            "a previous actor for this partition may still run on this node: stop it, "
            "or open the store under another path",
        )
    return StoreError(
        f"RocksDB failed to {action}: {exc}",
        path,
        "check the directory is writable and has space; if it is damaged, destroy() it "
        "and restore from the changelog",
    )


class RocksDBStore(Store):
    """A table partition's store in a RocksDB directory at ``path``.

    Reopening the same path gives back the data and the changelog offset.
    Writes go through the WAL without fsync: a machine crash may lose the last
    batches, but data and offset are lost together, and the changelog has them.
    """

    persistent = True
    path: str

    def __init__(self, path: str | os.PathLike[str], options: Mapping[str, Any] | None = None):
        self.path = os.path.realpath(os.fspath(path))
        self.options = validate_options(options)
        with _shared_lock:
            if self.path in _open_paths:
                raise StoreLockedError(
                    "already open in this process",
                    self.path,
                    "close() the other RocksDBStore on this path first",
                )
            _open_paths.add(self.path)
        self._release = weakref.finalize(self, _open_paths.discard, self.path)
        self._closed = False
        self._len: int | None = None
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._db = Rdict(self.path, _rocksdb_options(self.options))
        except Exception as exc:
            self._release()
            raise _translate(exc, self.path, "open") from exc
        try:
            raw = self._db.get(CHANGELOG_OFFSET_KEY)
            self._offset = None if raw is None else decode_offset(raw, self.path)
        except Exception as exc:
            self.close()
            raise _translate(exc, self.path, "read the changelog offset") from exc

    def get(self, key: bytes) -> bytes | None:
        if key == CHANGELOG_OFFSET_KEY:
            return None
        try:
            return self._db.get(key)
        except Exception as exc:
            raise _translate(exc, self.path, "get") from exc

    def write_batch(self, puts: Mapping[bytes, bytes | None], changelog_offset: int | None) -> None:
        check_puts(puts, changelog_offset)
        batch = WriteBatch(raw_mode=True)
        put, delete = batch.put, batch.delete
        for key, value in puts.items():
            if type(key) is not bytes:
                raise not_bytes(key, value)
            if value is None:
                delete(key)
            elif type(value) is bytes:
                put(key, value)
            else:
                raise not_bytes(key, value)
        if changelog_offset is not None:
            put(CHANGELOG_OFFSET_KEY, encode_offset(changelog_offset))
        if batch.is_empty():
            return
        try:
            self._db.write(batch)
        except Exception as exc:
            raise _translate(exc, self.path, "write a batch") from exc
        self._len = None
        if changelog_offset is not None:
            self._offset = changelog_offset

    def changelog_offset(self) -> int | None:
        self._check_open("read the changelog offset")
        return self._offset

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        self._check_open("iterate")
        return self._items()

    def _items(self) -> Iterator[tuple[bytes, bytes]]:
        try:
            for key, value in self._db.items():
                if key != CHANGELOG_OFFSET_KEY:
                    yield key, value  # type: ignore[misc]  # raw mode: always bytes
        except Exception as exc:
            raise _translate(exc, self.path, "iterate") from exc

    def __len__(self) -> int:
        """Exact count by a key scan, cached until the next write (for status and tests)."""
        self._check_open("count keys")
        if self._len is None:
            try:
                count = sum(1 for _ in self._db.keys())
            except Exception as exc:
                raise _translate(exc, self.path, "count keys") from exc
            self._len = count - (self._offset is not None)
        return self._len

    def approximate_size_bytes(self) -> int:
        """SST files on disk plus memtables in memory."""
        self._check_open("read its size")
        try:
            sst = self._db.property_int_value("rocksdb.total-sst-files-size") or 0
            mem = self._db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
        except Exception as exc:
            raise _translate(exc, self.path, "read its size") from exc
        return int(sst) + int(mem)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._db.close()
        except Exception as exc:
            raise _translate(exc, self.path, "close") from exc
        finally:
            self._release()

    def destroy(self) -> None:
        self.close()
        self.destroy_path(self.path)

    @staticmethod
    def destroy_path(path: str | os.PathLike[str]) -> None:
        """Delete the store at ``path`` without opening it (e.g. after StoreCorruptedError)."""
        real = os.path.realpath(os.fspath(path))
        with _shared_lock:
            if real in _open_paths:
                raise StoreLockedError(
                    "cannot destroy a store open in this process",
                    real,
                    "close() it first, or call its destroy()",
                )
        try:
            Rdict.destroy(real, Options(raw_mode=True))
        except Exception as exc:
            raise _translate(exc, real, "destroy") from exc
        shutil.rmtree(real, ignore_errors=True)

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise _translate(DbClosedError("DB instance already closed"), self.path, action)
