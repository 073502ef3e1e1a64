"""The Faust peer: the design raytables follows, on a single worker.

One ``faust-streaming`` worker, one agent over the workload topic, two tables:

* ``counts``: ``Table(default=int)``, count per key;
* ``windowed``: ``Table(default=int).tumbling(10).relative_to_stream()``,
  count per key and 10 s window of the event's record timestamp (no expiry, so
  every window stays readable for the check).

Both tables keep their changelog topics (Faust's default; one produce per
update). ``--store memory`` or ``--store rocksdb`` picks ``memory://`` or
``rocksdb://`` (the latter through rocksdict, see :mod:`bench.peers.envs`).

The agent itself counts events: the first one starts the clock, the N-th
stops it, then the result line is printed and the process leaves with
``os._exit(0)`` (a graceful Faust shutdown takes seconds and is not part of
what is measured). Runs in the Faust venv, from the repository root::

    $(python -m bench.peers.envs faust | cut -d' ' -f2) -m bench.peers.faust_app \\
        --bootstrap 127.0.0.1:PORT --topic TOPIC --events 20000 --store memory
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time

import faust

from bench.peers.common import (
    arm_hard_timeout,
    dump_tables,
    emit_result,
    parse_args,
    result_line,
)

STORES = {"memory": "memory://", "rocksdb": "rocksdb://"}
WINDOW_S = 10
PARTITIONS = 8


def build_app(args, datadir: str) -> faust.App:
    """The Faust app, its topic, tables and the counting agent."""
    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store=STORES[args.store],
        datadir=datadir,
        topic_partitions=PARTITIONS,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
    )
    topic = app.topic(args.topic, key_serializer="raw", value_serializer="json")
    counts = app.Table("counts", default=int, partitions=PARTITIONS)
    windowed = (
        app.Table("windowed", default=int, partitions=PARTITIONS)
        .tumbling(WINDOW_S)
        .relative_to_stream()
    )
    n_target = args.events
    started = time.monotonic()
    state = {"n": 0, "t_first": 0.0}

    def finish() -> None:
        seconds = time.perf_counter() - state["t_first"]
        result = result_line(
            "faust",
            args.store,
            n_target,
            seconds,
            startup_s=round(state["t_first_mono"] - started, 2),
            store_class=_store_class(counts),
        )
        if args.dump:
            dump_tables(args.dump, dict(counts.items()), _window_items(windowed.table))
        emit_result(result)

    @app.agent(topic)
    async def count(stream):
        async for event in stream:
            n = state["n"] + 1
            state["n"] = n
            if n == 1:
                state["t_first"] = time.perf_counter()
                state["t_first_mono"] = time.monotonic()
            key = event["key"]
            counts[key] += 1
            windowed[key] += 1
            if n == n_target:
                finish()
                _leave(datadir, args.datadir is None, 0)

    return app


def _window_items(table) -> dict[tuple[str, int], int]:
    """Windowed table rows as ``{(key, window_start_s): count}``.

    Faust stores a windowed key as ``(key, (start, end))``; through the JSON
    key serializer of the RocksDB store it comes back as lists.
    """
    out: dict[tuple[str, int], int] = {}
    for wkey, value in table.items():
        key, (start, _end) = wkey
        out[(key, int(round(start)))] = value
    return out


def _store_class(table) -> str:
    """Which store really backs a table (proves ``rocksdb://`` is not memory)."""
    store = table.data
    name = f"{type(store).__module__}.{type(store).__name__}"
    if getattr(store, "use_rocksdict", False):
        name += "(rocksdict)"
    return name


def _leave(datadir: str, remove: bool, code: int) -> None:
    """Exit now, skipping Faust's slow graceful stop; drop a temp datadir."""
    sys.stdout.flush()
    sys.stderr.flush()
    if remove:
        shutil.rmtree(datadir, ignore_errors=True)
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    args = parse_args("faust", tuple(STORES), argv)
    datadir = args.datadir or tempfile.mkdtemp(prefix="bench-faust-")
    arm_hard_timeout("faust", args.store, args.timeout, () if args.datadir else (datadir,))
    app = build_app(args, datadir)
    logging.getLogger("faust").setLevel(logging.WARNING)
    # redirect_stdouts=False: the result line must reach the real stdout, not
    # Faust's logging proxy.
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    # Only reached if the worker stopped before N events (e.g. a crash).
    emit_result({"peer": "faust", "store": args.store, "error": "worker stopped early"})
    _leave(datadir, args.datadir is None, 1)


if __name__ == "__main__":
    main()
