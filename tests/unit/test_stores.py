"""Stores: one suite for memory and RocksDB (real RocksDB under tmp_path)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from actors.stores import (
    CHANGELOG_OFFSET_KEY,
    DEFAULT_OPTIONS,
    MemoryStore,
    RocksDBStore,
    Store,
    StoreClosedError,
    StoreCorruptedError,
    StoreError,
    StoreLockedError,
    open_store,
)

MakeStore = Callable[[], Store]


@pytest.fixture(params=["memory", "rocksdb"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    """Opens a store of the parametrized kind; RocksDB ones reopen the same directory."""
    opened: list[Store] = []

    def make() -> Store:
        store = MemoryStore() if request.param == "memory" else RocksDBStore(tmp_path / "db")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: MakeStore) -> Store:
    return make_store()


def test_write_batch_puts_and_deletes(store: Store) -> None:
    store.write_batch({b"a": b"1", b"b": b"2", b"c": b"3"}, 10)
    store.write_batch({b"b": None, b"c": b"33", b"missing": None}, 11)
    assert store.get(b"a") == b"1"
    assert store.get(b"b") is None
    assert store.get(b"c") == b"33"
    assert sorted(store.items()) == [(b"a", b"1"), (b"c", b"33")]
    assert len(store) == 2


def test_changelog_offset(store: Store) -> None:
    assert store.changelog_offset() is None
    store.write_batch({b"k": b"v"}, 0)
    assert store.changelog_offset() == 0
    store.write_batch({b"k": b"w"}, None)  # no offset: recorded one unchanged
    assert store.changelog_offset() == 0
    store.write_batch({}, 42)  # an offset alone is a valid batch
    assert store.changelog_offset() == 42
    assert store.get(b"k") == b"w"


def test_metadata_key_is_hidden(store: Store) -> None:
    store.write_batch({b"k": b"v"}, 7)
    assert list(store.items()) == [(b"k", b"v")]
    assert len(store) == 1
    assert store.get(CHANGELOG_OFFSET_KEY) is None
    with pytest.raises(ValueError, match="reserved"):
        store.write_batch({CHANGELOG_OFFSET_KEY: b"x"}, None)


@pytest.mark.parametrize(
    "puts, offset, error",
    [
        ({"str-key": b"v"}, None, TypeError),
        ({b"k": "str-value"}, None, TypeError),
        ({b"k": 1}, None, TypeError),
        ({b"k": b"v"}, -1, ValueError),
        ({b"k": b"v"}, 1.5, ValueError),
        ({b"k": b"v"}, True, ValueError),
    ],
)
def test_bad_batches_change_nothing(store: Store, puts: dict, offset: object, error: type) -> None:
    store.write_batch({b"ok": b"1"}, 3)
    with pytest.raises(error):
        store.write_batch({b"first": b"x", **puts}, offset)  # type: ignore[arg-type]
    assert list(store.items()) == [(b"ok", b"1")]
    assert store.changelog_offset() == 3


def test_items_snapshot_allows_writes(store: Store) -> None:
    store.write_batch({bytes([i]): b"v" for i in range(1, 20)}, 1)
    for key, _ in store.items():
        store.write_batch({key: None}, None)
    assert len(store) == 0


def test_size_and_persistence_flag(store: Store) -> None:
    store.write_batch({b"key": b"x" * 1000}, 1)
    assert store.approximate_size_bytes() >= 1000
    assert store.persistent is isinstance(store, RocksDBStore)


def test_use_after_close(store: Store) -> None:
    store.write_batch({b"k": b"v"}, 1)
    store.close()
    store.close()  # idempotent
    for use in (
        lambda: store.get(b"k"),
        lambda: store.write_batch({b"k": b"v"}, 2),
        lambda: store.changelog_offset(),
        lambda: list(store.items()),
        lambda: len(store),
    ):
        with pytest.raises(StoreClosedError):
            use()


def test_destroy_forgets_everything(make_store: MakeStore) -> None:
    store = make_store()
    store.write_batch({b"k": b"v"}, 5)
    store.destroy()
    if store.path is not None:
        assert not os.path.exists(store.path)
    fresh = make_store()
    assert fresh.get(b"k") is None and fresh.changelog_offset() is None and len(fresh) == 0


def test_context_manager_closes(make_store: MakeStore) -> None:
    with make_store() as store:
        store.write_batch({b"k": b"v"}, 1)
    with pytest.raises(StoreClosedError):
        store.get(b"k")


# --- RocksDB only --------------------------------------------------------------------------


def test_rocksdb_reopen_returns_data_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "p0"
    with RocksDBStore(path) as store:
        store.write_batch({b"k%d" % i: b"v%d" % i for i in range(500)}, 499)
        store.write_batch({b"k0": None}, 500)
    with RocksDBStore(path) as store:
        assert store.changelog_offset() == 500
        assert store.get(b"k0") is None and store.get(b"k499") == b"v499"
        assert len(store) == 499
        assert next(iter(store.items())) == (b"k1", b"v1")  # bytewise order, no metadata


def test_rocksdb_same_path_twice_in_one_process(tmp_path: Path) -> None:
    first = RocksDBStore(tmp_path / "db")
    with pytest.raises(StoreLockedError, match="already open in this process") as info:
        RocksDBStore(str(tmp_path / "db"))
    assert info.value.path == os.path.realpath(tmp_path / "db")
    first.close()
    RocksDBStore(tmp_path / "db").close()


def test_rocksdb_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from rocksdict import Options, Rdict
                db = Rdict({str(path)!r}, Options(raw_mode=True))
                print("ready", flush=True)
                sys.stdin.read()
                db.close()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match="another process") as info:
            RocksDBStore(path)
        assert str(path) in str(info.value) and info.value.hint
    finally:
        holder.communicate("", timeout=10)
    RocksDBStore(path).close()  # free again once the holder is gone


def test_rocksdb_corrupted_offset(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    db = Rdict(path, Options(raw_mode=True))
    db.put(CHANGELOG_OFFSET_KEY, b"\x01")
    db.close()
    with pytest.raises(StoreCorruptedError, match="restore from the changelog"):
        RocksDBStore(path)
    RocksDBStore.destroy_path(path)
    with RocksDBStore(path) as store:
        assert store.changelog_offset() is None


def test_rocksdb_open_failure_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="RocksDB failed to open"):
        RocksDBStore(blocker / "db")


def test_rocksdb_options(tmp_path: Path) -> None:
    tuned = {"write_buffer_size": 4 << 20, "compression": "zstd", "max_open_files": -1}
    with RocksDBStore(tmp_path / "db", tuned) as store:
        assert store.options == {**DEFAULT_OPTIONS, **tuned}
        store.write_batch({b"k": b"v"}, 1)
        assert store.get(b"k") == b"v"


@pytest.mark.parametrize(
    "options, match",
    [
        ({"write_buffer_sise": 1}, "unknown RocksDB option 'write_buffer_sise'"),
        ({"max_write_buffer_number": 0}, "max_write_buffer_number"),
        ({"block_cache_size": "64MB"}, "block_cache_size"),
        ({"compression": "gzip"}, "compression"),
        ({"max_open_files": 0}, "max_open_files"),
    ],
)
def test_rocksdb_bad_options(tmp_path: Path, options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RocksDBStore(tmp_path / "db", options)
    assert not (tmp_path / "db").exists()


# --- open_store ----------------------------------------------------------------------------


def test_open_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    with open_store("rocksdb://", str(tmp_path / "a")) as store:
        assert isinstance(store, RocksDBStore) and store.path == os.path.realpath(tmp_path / "a")
    with open_store(f"rocksdb://{tmp_path}", "app/table/p3") as store:
        assert store.path == os.path.realpath(tmp_path / "app/table/p3")
    with open_store(f"rocksdb://{tmp_path / 'base'}") as store:
        assert store.path == os.path.realpath(tmp_path / "base")


@pytest.mark.parametrize(
    "url, kwargs, match",
    [
        ("redis://x", {}, "unknown store url 'redis://x'; accepted schemes: memory://, rocksdb://"),
        ("memory", {}, "unknown store url 'memory'"),
        ("rocksdb://", {}, "needs a path"),
        ("memory://", {"options": {"write_buffer_size": 1}}, "no options"),
        ("memory://x", {}, "no path"),
    ],
)
def test_open_store_bad_urls(url: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        open_store(url, **kwargs)
