"""Stores: one per table partition, bytes in and bytes out, behind one interface.

``open_store(url, path, options)`` picks the implementation from the table's
store URL, as Faust's ``store="rocksdb://"`` does:

* ``memory://`` -> ``MemoryStore`` (``path`` and ``options`` unused; options
  must be empty);
* ``rocksdb://`` -> ``RocksDBStore`` at ``path`` (required);
* ``rocksdb:///base/dir`` -> ``RocksDBStore`` at ``os.path.join(base, path)``:
  a relative ``path`` goes under the base directory, an absolute one is used
  as is, and with no ``path`` the base directory itself is the store.
  Everything after ``rocksdb://`` is the base, so ``rocksdb://data`` means
  ``./data``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from actors.stores.base import (
    CHANGELOG_OFFSET_KEY,
    Store,
    StoreClosedError,
    StoreCorruptedError,
    StoreError,
    StoreLockedError,
)
from actors.stores.memory import MemoryStore
from actors.stores.rocksdb import DEFAULT_OPTIONS, RocksDBStore

__all__ = [
    "CHANGELOG_OFFSET_KEY",
    "DEFAULT_OPTIONS",
    "MemoryStore",
    "RocksDBStore",
    "Store",
    "StoreClosedError",
    "StoreCorruptedError",
    "StoreError",
    "StoreLockedError",
    "open_store",
]

SCHEMES = ("memory://", "rocksdb://")


def open_store(
    url: str, path: str | os.PathLike[str] | None = None, options: Mapping[str, Any] | None = None
) -> Store:
    """Open the store a table's ``store=`` URL names (see the module docstring)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "memory":
        if rest:
            raise ValueError(f"store url {url!r}: memory:// takes no path")
        if options:
            raise ValueError(f"store url {url!r}: memory:// takes no options, got {dict(options)}")
        return MemoryStore()
    if sep and scheme == "rocksdb":
        if path is not None:
            where: str | os.PathLike[str] = os.path.join(rest, path) if rest else path
        elif rest:
            where = rest
        else:
            raise ValueError(
                f"store url {url!r} needs a path: pass path=..., or give a directory "
                "as rocksdb:///some/dir"
            )
        return RocksDBStore(where, options)
    raise ValueError(f"unknown store url {url!r}; accepted schemes: {', '.join(SCHEMES)}")
