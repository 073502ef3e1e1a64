"""Recovery rate: rebuilding a table partition from its changelog, raytables against Faust.

Why this shape:

* The changelog is written the way raytables writes it (``encode_key`` JSON key
  bytes, JSON value bytes, ``cleanup.policy=compact``), with aiokafka's batch
  API, on ONE partition: recovery runs per partition in one actor, so one
  partition measures what one core restores. Keys ``k0..k{K-1}`` are written
  round-robin, so with 1M records and K=100k every key is overwritten 10 times
  and the final value of key ``kj`` is the version of its last write.
* raytables is measured without Ray: a real ``actors.partition.PartitionRuntime``
  built from an ``AppSpec`` opens an empty store (``_open_stores``) and runs
  ``actors.recovery.recover_tables`` on it, exactly what a partition actor does
  on start. Ray adds nothing per record here. The rate is recover_tables' own
  (consumer start excluded, offset lookups and every fetch included); the
  restored state is compared key by key with the expected final values.
* Faust (``bench/peers/faust_restore.py``, its own venv) restores a changelog
  named ``{app_id}-{table}-changelog`` with the same bytes. It does ~6k
  records/s here, so it gets its own topic with the first ``--faust-records``
  (default 200k) records of the same sequence; its rate is measured from
  Faust's "recovery started" to the table's ``on_recover`` callback.

    .venv/bin/python -m bench.recovery [--records 1000000] [--keys 100000]
        [--faust-records 200000] [--skip faust,faust-rocksdb]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

from rich.console import Console
from rich.table import Table

GOAL = 200_000  # records/s, from the issue


def sequence(n: int, keys: int) -> tuple[list[tuple[bytes, bytes]], dict[str, int]]:
    """The changelog records (key bytes, value bytes) and the final value of every key."""
    from cluster.codecs import encode_key

    key_bytes = [encode_key(f"k{j}") for j in range(keys)]
    records = [(key_bytes[i % keys], str(i // keys).encode()) for i in range(n)]
    final = {f"k{i % keys}": i // keys for i in range(max(0, n - keys), n)}
    return records, final


async def produce_changelog(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    """Creates `topic` (1 partition, compacted like a raytables changelog) and fills it."""
    from aiokafka import AIOKafkaProducer

    from actors.kafka_io import TopicWant, ensure_topics

    await ensure_topics(bootstrap, [TopicWant(topic, 1, {"cleanup.policy": "compact"}, "changelog")])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=1 << 20, linger_ms=5,
                                acks="all")
    await producer.start()
    t0 = time.monotonic()
    try:
        futures = []
        batch = producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:
                futures.append(await producer.send_batch(batch, topic, partition=0))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        futures.append(await producer.send_batch(batch, topic, partition=0))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.monotonic() - t0


def run_raytables(bootstrap: str, app_id: str, table: str, store: str,
                  expected: dict[str, int]) -> dict[str, Any]:
    """A real PartitionRuntime (no Ray) recovers partition 0 into an empty store."""
    import cluster
    from actors.partition import PartitionRuntime
    from actors.recovery import recover_tables
    from cluster.config import AppSpec

    data_dir = tempfile.mkdtemp(prefix="bench-recovery-")
    app = cluster.Cluster(app_id, broker=f"kafka://{bootstrap}", store=store, data_dir=data_dir)
    app.table(table, default=int, partitions=1)
    spec = AppSpec(app.config, 1, {}, dict(app.tables), [])
    runtime = PartitionRuntime(spec, 0)
    try:
        runtime._open_stores()
        t0 = time.monotonic()
        report = asyncio.run(recover_tables(runtime))
        wall = time.monotonic() - t0
        core = runtime.cores[table]
        got = dict(core.items())
        size = core.store.approximate_size_bytes()
        disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data_dir) for f in fs)
        core.store.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"peer": "raytables", "store": store.replace("://", ""), "records": report["records"],
            "seconds": report["seconds"], "records_per_s": round(report["rate"]),
            "seconds_with_consumer_start": round(wall, 3), "keys": len(got),
            "state_bytes": size, "disk_bytes": disk, "ok": got == expected}


def run_faust(bootstrap: str, app_id: str, table: str, store: str, n: int,
              expected: dict[str, int], timeout: float) -> dict[str, Any]:
    """bench/peers/faust_restore.py in the Faust venv; checks its key count and value sum."""
    from bench.peers.envs import ensure_venv
    from bench.peers.run import REPO, _parse_result

    cmd = [str(ensure_venv("faust")), "-m", "bench.peers.faust_restore", "--bootstrap", bootstrap,
           "--app", app_id, "--table", table, "--records", str(n), "--store", store,
           "--timeout", str(timeout)]
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONWARNINGS="ignore::DeprecationWarning")
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, _ = proc.communicate()
        result = _parse_result(out) or {"peer": "faust", "store": store,
                                        "error": f"no result line (exit {proc.returncode})"}
        if "error" in result:
            err.seek(0)
            result["stderr_tail"] = err.read()[-1500:]
    if "error" not in result:
        result["ok"] = (result["keys"] == len(expected)
                        and result["value_sum"] == sum(expected.values()))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--faust-records", type=int, default=200_000,
                        help="records of Faust's own changelog (it restores ~6k/s)")
    parser.add_argument("--faust-timeout", type=float, default=300.0)
    parser.add_argument("--skip", default="", help="comma list: faust,faust-rocksdb,rocksdb")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    from cluster.localdev import LocalKafka

    results: list[dict[str, Any]] = []
    table = "state"
    records, expected = sequence(args.records, args.keys)
    with LocalKafka() as kafka:
        b = kafka.bootstrap
        ours = f"bench-rec-{uuid.uuid4().hex[:6]}"
        secs = asyncio.run(produce_changelog(b, f"{ours}-{table}-changelog", records))
        print(json.dumps({"produced": args.records, "keys": args.keys, "partitions": 1,
                          "seconds": round(secs, 2)}), flush=True)
        for store in ("memory://", "rocksdb://"):
            if store.startswith("rocksdb") and "rocksdb" in skip:
                continue
            r = run_raytables(b, ours, table, store, expected)
            results.append(r)
            print(json.dumps(r), flush=True)
        del records
        if "faust" not in skip:
            f_records, f_expected = sequence(args.faust_records, args.keys)
            for store in ("memory", "rocksdb"):
                if f"faust-{store}" in skip:
                    continue
                app_id = f"bench-frec-{uuid.uuid4().hex[:6]}"  # one app (and changelog) per run
                asyncio.run(produce_changelog(b, f"{app_id}-{table}-changelog", f_records))
                r = run_faust(b, app_id, table, store, args.faust_records, f_expected,
                              args.faust_timeout)
                results.append(r)
                print(json.dumps(r), flush=True)

    def rate(peer: str, store: str) -> float | None:
        return next((float(r["records_per_s"]) for r in results if r.get("peer") == peer
                     and r.get("store") == store and r.get("records_per_s")), None)

    out = Table(title=f"changelog recovery, 1 partition, {args.keys:,} keys "
                      f"(targets: >= 5x Faust, goal {GOAL:,} records/s)")
    for col in ("system", "store", "records", "seconds", "records/s", "x Faust (same store)",
                "x Faust memory", "/ goal", "keys", "state MB", "ok"):
        out.add_column(col)
    fmt = lambda a, b: f"{a / b:.1f}" if a and b else "-"  # noqa: E731
    for r in results:
        rps = r.get("records_per_s")
        out.add_row(r["peer"], r["store"], f"{r.get('records', '-'):,}" if "records" in r else "-",
                    str(r.get("seconds", "-")), f"{rps:,}" if rps else r.get("error", "-"),
                    fmt(rps, rate("faust", r["store"])), fmt(rps, rate("faust", "memory")),
                    fmt(rps, GOAL), f"{r.get('keys', '-'):,}" if "keys" in r else "-",
                    f"{r['state_bytes'] / 1e6:.1f}" if r.get("state_bytes") else "-",
                    str(r.get("ok", "-")))
    Console(width=160).print(out)
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
