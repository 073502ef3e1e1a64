"""The Quix Streams peer: the fastest Python stream processor we know of.

Quix Streams 3.28 with its defaults for state: RocksDB stores and changelog
topics on (written once per checkpoint, latest value per key; checkpoint
every 5 s). The pipeline, keyed by the Kafka message key:

1. ``update(count_per_key, stateful=True)``: count per key in state;
2. ``tumbling_window(10 s).count().current()``: count per key and window of
   the record's timestamp (Quix windows always use event time);
3. ``update(tick)``: counts outputs; the N-th stops the clock and the app.

``seconds`` runs from the first event entering step 1 to the N-th leaving
step 3, like the other peers; ``seconds_with_final_commit`` adds Quix's
forced checkpoint at stop (changelog flush + RocksDB write), reported for
information. With ``--dump``, the values read back from state on each update
are kept in plain dicts (only then, so the timed run does no extra work).

Runs in the Quix venv, from the repository root::

    $(python -m bench.peers.envs quix | cut -d' ' -f2) -m bench.peers.quix_app \\
        --bootstrap 127.0.0.1:PORT --topic TOPIC --events 200000
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import timedelta

from quixstreams import Application

from bench.peers.common import (
    arm_hard_timeout,
    dump_tables,
    emit_result,
    parse_args,
    result_line,
)

WINDOW = timedelta(seconds=10)


def run(args, state_dir: str) -> dict:
    """Build the app, run it until N events, return the result dict."""
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        use_changelog_topics=True,
        loglevel="WARNING",
    )
    topic = app.topic(args.topic, key_deserializer="str", value_deserializer="json")
    sdf = app.dataframe(topic)

    n_target = args.events
    dump = bool(args.dump)
    per_key: dict[str, int] = {}
    per_window: dict[tuple[str, int], int] = {}
    clock = {"n": 0, "t_first": 0.0, "t_nth": 0.0}

    def count_per_key(value: dict, state) -> None:
        if not clock["t_first"]:
            clock["t_first"] = time.perf_counter()
        n = state.get("count", 0) + 1
        state.set("count", n)
        if dump:
            per_key[value["key"]] = n

    def tick(value: dict, key: str, timestamp: int, headers) -> None:
        if dump:
            per_window[(key, value["start"] // 1000)] = value["value"]
        n = clock["n"] + 1
        clock["n"] = n
        if n == n_target:
            clock["t_nth"] = time.perf_counter()
            app.stop()

    sdf = sdf.update(count_per_key, stateful=True)
    sdf = sdf.tumbling_window(WINDOW).count().current()
    sdf = sdf.update(tick, metadata=True)

    app.run()
    t_stopped = time.perf_counter()
    if clock["n"] < n_target:
        return {"peer": "quix", "store": args.store, "error": f"stopped after {clock['n']} events"}
    if dump:
        dump_tables(args.dump, per_key, per_window)
    return result_line(
        "quix",
        args.store,
        n_target,
        clock["t_nth"] - clock["t_first"],
        seconds_with_final_commit=round(t_stopped - clock["t_first"], 4),
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args("quix", ("rocksdb",), argv)
    state_dir = args.datadir or tempfile.mkdtemp(prefix="bench-quix-")
    arm_hard_timeout("quix", args.store, args.timeout, () if args.datadir else (state_dir,))
    try:
        result = run(args, state_dir)
    finally:
        if args.datadir is None:
            shutil.rmtree(state_dir, ignore_errors=True)
    emit_result(result)
    sys.stderr.flush()
    # librdkafka threads can delay interpreter shutdown; nothing is left to do.
    os._exit(0 if "error" not in result else 1)


if __name__ == "__main__":
    main()
