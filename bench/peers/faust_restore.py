"""The Faust peer of bench/recovery.py: how fast a worker restores a table's changelog.

One ``faust-streaming`` worker with one ``Table(name, default=int, partitions=1)``
and no agent: its changelog ``{app}-{table}-changelog`` (made by the caller,
JSON keys and values, the bytes raytables writes too) is assigned to it and
restored on start, into an empty memory or RocksDB store (a fresh datadir).

Three clocks, all wall time in this process:

* ``t_start``: just before the worker starts (Faust start-up and group join follow);
* ``t_recovery``: when Faust flags the app ``in_recovery`` (seen by a 2 ms polling
  thread: Faust starts its own tasks only after recovery, so no asyncio hook
  runs earlier);
* ``t_done``: the table's ``on_recover`` callback, which Faust awaits after the
  last changelog record up to the high watermark has been applied.

``records_per_s`` is ``records / (t_done - t_recovery)``; ``seconds_total``
includes start-up. Then ``len(table)`` and the sum of the values are printed for
the caller to check, and the process leaves with ``os._exit`` (Faust's graceful
stop takes seconds and is not measured). Runs in the Faust venv::

    $(python -m bench.peers.envs faust | cut -d' ' -f2) -m bench.peers.faust_restore \\
        --bootstrap 127.0.0.1:PORT --app APP --table state --records 200000 --store memory
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import threading
import time

import faust

from bench.peers.common import arm_hard_timeout, emit_result, peak_rss_mb

STORES = {"memory": "memory://", "rocksdb": "rocksdb://"}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.peers.faust_restore", description=__doc__.split("\n")[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--app", required=True, help="app id: the changelog is {app}-{table}-changelog")
    p.add_argument("--table", required=True)
    p.add_argument("--records", type=int, required=True, help="records in the changelog")
    p.add_argument("--store", default="memory", choices=tuple(STORES))
    p.add_argument("--timeout", type=float, default=300.0)
    args = p.parse_args(argv)

    datadir = tempfile.mkdtemp(prefix="bench-faust-restore-")
    arm_hard_timeout("faust", args.store, args.timeout, (datadir,))
    app = faust.App(args.app, broker=f"kafka://{args.bootstrap}", store=STORES[args.store],
                    datadir=datadir, topic_partitions=1, topic_replication_factor=1,
                    web_enabled=False, autodiscover=False)
    table = app.Table(args.table, default=int, partitions=1)
    clock = {"t_recovery": 0.0}

    def watch() -> None:
        while not clock["t_recovery"]:
            if getattr(app, "in_recovery", False):
                clock["t_recovery"] = time.time()
            time.sleep(0.002)

    @table.on_recover
    async def restored() -> None:
        t_done = time.time()
        t_rec = clock["t_recovery"] or t_start
        keys = len(table)
        value_sum = sum(v for _, v in table.items())
        emit_result({
            "peer": "faust", "store": args.store, "records": args.records,
            "seconds": round(t_done - t_rec, 3),
            "records_per_s": round(args.records / (t_done - t_rec)),
            "seconds_total": round(t_done - t_start, 3), "keys": keys, "value_sum": value_sum,
            "store_class": f"{type(table.data).__module__}.{type(table.data).__name__}",
            "peak_rss_mb": peak_rss_mb(),
        })
        sys.stderr.flush()
        shutil.rmtree(datadir, ignore_errors=True)
        os._exit(0)

    logging.getLogger("faust").setLevel(logging.WARNING)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    threading.Thread(target=watch, daemon=True).start()
    t_start = time.time()
    worker.execute_from_commandline()
    emit_result({"peer": "faust", "store": args.store, "error": "worker stopped before recovery"})
    shutil.rmtree(datadir, ignore_errors=True)
    os._exit(1)


if __name__ == "__main__":
    main()
