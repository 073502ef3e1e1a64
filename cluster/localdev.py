"""Local infrastructure for development, examples, tests and benchmarks.

One place that starts and stops the local Kafka broker (through
`deploy/kafka.sh`, the same script users run) and a local Ray, so the test
fixtures, the benchmarks and the demo command agree on how that is done:
loopback only, session files in our own temp dir, stopped by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Ray swaps 127.0.0.1 for the machine's routable address unless this is off;
# a local Ray of ours keeps every process on loopback. Only for Ray started
# here: a driver joining a real cluster must keep Ray's own address choice.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
                "RAY_USAGE_STATS_ENABLED": "0"}


def use_loopback() -> None:
    """For this process (already imported ray reads the constant at call time) and its children."""
    for key, value in LOOPBACK_ENV.items():
        os.environ.setdefault(key, value)
    try:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] != "0"
    except ImportError:
        pass

REPO = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = REPO / "deploy" / "kafka.sh"


def run_script(script: Path, args: tuple[str, ...], workdir: Path, env: dict[str, str],
               timeout: float) -> str:
    """One of the deploy/ scripts on our own state dir; its stderr in the error if it fails."""
    proc = subprocess.run(["bash", str(script), *args, "--dir", str(workdir)],
                          env=dict(os.environ, PYTHON=sys.executable, **env),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"deploy/{script.name} {args[0]} failed (exit {proc.returncode}); "
                           f"logs in {workdir}\n{proc.stderr[-3000:]}")
    return proc.stdout


@dataclass
class LocalKafka:
    """A single-node KRaft broker on 127.0.0.1 owned by this process."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rt-kafka-")))
    bootstrap: str = ""

    def _run(self, *args: str, timeout: float = 600) -> str:
        return run_script(KAFKA_SCRIPT, args, self.workdir, {}, timeout).strip()

    def start(self) -> str:
        self.bootstrap = self._run("start").splitlines()[-1]
        return self.bootstrap

    def stop(self) -> None:
        self._run("stop", timeout=60)

    @property
    def pid(self) -> int | None:
        try:
            return int((self.workdir / "broker.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_with(marker: str) -> list[Any]:
    """Every process with `marker` (a private temp dir, say) in its command line or environment.

    The environment too: Ray's agents and workers retitle themselves
    (`ray::DashboardAgent`), and then only what they inherited names our dir.
    This is how a Ray of ours is stopped without `ray stop`, which would kill
    every Ray process on the machine.
    """
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if (any(marker in arg for arg in proc.info["cmdline"] or [])
                    or any(marker in value for value in proc.environ().values())):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _terminate(procs: list[Any]) -> None:
    import psutil

    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=15)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=10)


def stop_processes(procs: list[Any]) -> None:
    """SIGTERM, SIGKILL after 15 s; a GCS only once the rest are gone, as `ray stop` does.

    A raylet whose GCS went first keeps retrying it instead of exiting (seen
    here: raylet, GCS and dashboard agent all still up 20 s after one SIGTERM
    each; raylet first, GCS last: all gone in about a second).
    """
    import psutil

    def is_gcs(proc: Any) -> bool:
        try:
            return proc.name() == "gcs_server"
        except psutil.Error:
            return False

    _terminate([proc for proc in procs if not is_gcs(proc)])
    _terminate([proc for proc in procs if is_gcs(proc)])


def ray_temp_dir() -> str:
    """A short private session dir: Ray's unix socket paths must stay under 108 bytes."""
    return tempfile.mkdtemp(prefix="rt-ray-", dir="/tmp")


def init_local_ray(num_cpus: int | None = None, **kwargs: object) -> None:
    """Start a local Ray on loopback with its session files in a private temp dir."""
    use_loopback()
    import ray

    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("log_to_driver", True)
    ray.init(
        address="local",
        num_cpus=num_cpus,
        _node_ip_address="127.0.0.1",
        _temp_dir=ray_temp_dir(),
        **kwargs,
    )


JAEGER_SCRIPT = REPO / "deploy" / "jaeger.sh"


@dataclass
class LocalJaeger:
    """Jaeger all-in-one (built from its Go module, cached) on free loopback ports."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rt-jaeger-")))
    endpoints: dict[str, str] = field(default_factory=dict)

    def _run(self, *args: str, timeout: float = 1800) -> str:
        free_ports = {f"JAEGER_{name}_PORT": "0"
                      for name in ("OTLP_GRPC", "OTLP_HTTP", "QUERY_HTTP", "QUERY_GRPC")}
        return run_script(JAEGER_SCRIPT, args, self.workdir, free_ports, timeout)

    def start(self) -> dict[str, str]:
        out = self._run("start")
        self.endpoints = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return self.endpoints

    def stop(self) -> None:
        self._run("stop", timeout=60)

    @property
    def pid(self) -> int | None:
        try:
            return int((self.workdir / "jaeger.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
