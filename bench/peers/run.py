"""Run the peers, one at a time, each in its own interpreter, and collect results.

:func:`run_peer` starts one peer as a subprocess (the ceiling with this
interpreter, i.e. the main venv; Faust and Quix with their private venvs from
:mod:`bench.peers.envs`), waits with a timeout, and returns the peer's JSON
result line as a dict. A subprocess, not an import, for every peer: the
clashing dependencies stay apart, ``peak_rss_mb`` is the peer's own, and a
hung peer can be killed.

The command line produces the workload and runs a set of peers::

    .venv/bin/python -m bench.peers.run --bootstrap 127.0.0.1:PORT \\
        [--peers ceiling,faust-memory,faust-rocksdb,quix-rocksdb] \\
        [--events 200000] [--faust-events 20000] [--runs 1] [--no-check]

One topic is produced per distinct event count (Faust is ~100x slower, so it
gets a smaller topic); every peer reads a whole topic with a fresh consumer
group / app id, so from offset 0. Unless ``--no-check``, each peer first runs
once with ``--dump`` and its tables are compared with
:func:`bench.workload.reference_counts` (one ``check`` line per peer); then
``--runs`` timed runs follow without dumping.

Run one benchmark at a time: the machine has 2 cores, and the broker shares
them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.peers.common import RESULT_PREFIX, fresh_group, load_tables
from bench.peers.envs import ensure_venv

REPO = Path(__file__).resolve().parents[2]

PEER_MODULES = {
    "ceiling": "bench.peers.ceiling",
    "faust": "bench.peers.faust_app",
    "quix": "bench.peers.quix_app",
}
DEFAULT_STORES = {"ceiling": "dict", "faust": "memory", "quix": "rocksdb"}
PEER_VENVS = {"faust": "faust", "quix": "quix"}


def peer_python(name: str) -> str:
    """Interpreter for a peer: its private venv, or this one (the ceiling)."""
    venv = PEER_VENVS.get(name)
    return str(ensure_venv(venv)) if venv else sys.executable


def run_peer(
    name: str,
    bootstrap: str,
    topic: str,
    n_events: int,
    store: str | None = None,
    *,
    timeout: float = 600.0,
    dump: str | None = None,
    group: str | None = None,
    log_path: str | None = None,
) -> dict:
    """Run peer ``name`` on ``topic`` until ``n_events``; return its result dict.

    The peer gets ``timeout`` as its own hard limit; this side kills its whole
    process group 30 s later if it still has not exited. A peer that fails,
    times out or prints no result line yields ``{"peer": ..., "error": ...}``
    (never raises for a peer's failure), with the tail of its stderr.
    """
    if name not in PEER_MODULES:
        raise ValueError(f"unknown peer {name!r}; known: {sorted(PEER_MODULES)}")
    store = store or DEFAULT_STORES[name]
    python = peer_python(name)
    cmd = [
        python, "-m", PEER_MODULES[name],
        "--bootstrap", bootstrap,
        "--topic", topic,
        "--events", str(n_events),
        "--store", store,
        "--group", group or fresh_group(name),
        "--timeout", str(timeout),
    ]  # fmt: skip
    if dump:
        cmd += ["--dump", dump]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")

    own_log = log_path is None
    if own_log:
        fd, log_path = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")
        os.close(fd)
    with open(log_path, "w") as err:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,  # its own process group, killable as a whole
        )
        try:
            out, _ = proc.communicate(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    result = _parse_result(out)
    if result is None:
        result = {"peer": name, "store": store, "error": f"no result line (exit {proc.returncode})"}
    if "error" in result or proc.returncode != 0:
        result.setdefault("error", f"exit code {proc.returncode}")
        result["stderr_tail"] = Path(log_path).read_text()[-2000:]
    if own_log:
        os.unlink(log_path)
    return result


def _parse_result(stdout: str) -> dict | None:
    """The peer's result line; tolerates terminal noise before it (Faust's spinner)."""
    for line in reversed(stdout.splitlines()):
        i = line.find(RESULT_PREFIX)
        if i >= 0:
            try:
                return json.loads(line[i:])
            except json.JSONDecodeError:
                continue
    return None


def check_peer(
    name: str, bootstrap: str, spec: dict, store: str | None = None, timeout: float = 600.0
) -> dict:
    """Run a peer once with ``--dump`` and compare its tables with the reference."""
    from bench.workload import check_counts  # main venv only (aiokafka)

    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        dump = os.path.join(tmp, "tables.json")
        result = run_peer(
            name, bootstrap, spec["topic"], spec["n_events"], store, timeout=timeout, dump=dump
        )
        if "error" in result:
            return {"ok": False, "run": result}
        check = check_counts(spec, *load_tables(dump))
    check["run"] = result
    return check


def _parse_peer(item: str) -> tuple[str, str | None]:
    name, _, store = item.partition("-")
    return name, store or None


def main(argv: list[str] | None = None) -> int:
    from bench.workload import produce_workload  # main venv only (aiokafka)

    p = argparse.ArgumentParser(prog="bench.peers.run", description=__doc__.split("\n")[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--peers", default="ceiling,faust-memory,faust-rocksdb,quix-rocksdb")
    p.add_argument("--events", type=int, default=200_000, help="events for ceiling and quix")
    p.add_argument("--faust-events", type=int, default=20_000, help="events for faust")
    p.add_argument("--runs", type=int, default=1, help="timed runs per peer")
    p.add_argument("--no-check", action="store_true", help="skip the checked run")
    p.add_argument("--timeout", type=float, default=600.0, help="per peer run, seconds")
    p.add_argument("--topic-prefix", default=None)
    args = p.parse_args(argv)

    peers = [_parse_peer(x) for x in args.peers.split(",") if x]
    for name, _ in peers:  # build venvs before anything is timed
        peer_python(name)
    prefix = args.topic_prefix or f"bench-{int(time.time())}"
    specs: dict[int, dict] = {}
    for name, _ in peers:
        n = args.faust_events if name == "faust" else args.events
        if n not in specs:
            specs[n] = produce_workload(args.bootstrap, f"{prefix}-{n}", n)
            print(json.dumps({"produced": specs[n]}), flush=True)

    failed = False
    for name, store in peers:
        spec = specs[args.faust_events if name == "faust" else args.events]
        if not args.no_check:
            check = check_peer(name, args.bootstrap, spec, store, args.timeout)
            failed |= not check["ok"]
            print(json.dumps({"check": f"{name}-{store or DEFAULT_STORES[name]}", **check}),
                  flush=True)  # fmt: skip
        for _ in range(args.runs):
            result = run_peer(
                name, args.bootstrap, spec["topic"], spec["n_events"], store,
                timeout=args.timeout,
            )  # fmt: skip
            failed |= "error" in result
            print(json.dumps({"topic": spec["topic"], **result}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
