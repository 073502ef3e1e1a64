"""A Ray cluster on this machine whose nodes come and go with Ray's autoscaler.

Ray's fake multi-node provider starts and stops raylets on the local host as
if they were cloud instances, so the whole scale-out / scale-in path (demand,
`request_resources`, idle timeout) runs for real. `ray.cluster_utils.
AutoscalingCluster` would do this, but in the 2.60 wheel it reads a config
file the wheel does not ship, and it runs `ray stop --force`, which kills
every Ray process on the machine. This writes the config itself and stops
only the processes under its own temp dir.

Try it: `python -m cluster.local_autoscaling` prints the address to connect
to and keeps the cluster up until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cluster.localdev import LOOPBACK_ENV, free_port, processes_with, ray_temp_dir, stop_processes

WORKER_TYPE = "ray.worker.cpu"


class LocalAutoscalingRay:
    """A CPU-less head (the driver and coordinator live there) plus fake worker nodes
    of `worker_cpus` each, between `min_workers` and `max_workers`."""

    def __init__(self, worker_cpus: int = 2, min_workers: int = 1, max_workers: int = 3,
                 idle_timeout_s: float = 6.0, object_store_mb: int = 100) -> None:
        self.temp_dir = ray_temp_dir()
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.min_workers = min_workers
        store = object_store_mb * 1024 * 1024
        self.config = {
            "cluster_name": f"raytables-fake-{self.port}",
            "max_workers": max_workers,
            "upscaling_speed": 1.0,
            "idle_timeout_minutes": idle_timeout_s / 60,
            "provider": {"type": "fake_multinode", "use_node_id_as_ip": True,
                         "disable_node_updaters": True, "disable_launch_config_check": True,
                         "gcs_address": self.address},
            "available_node_types": {
                "ray.head.default": {"resources": {}, "node_config": {}, "max_workers": 0},
                WORKER_TYPE: {"resources": {"CPU": worker_cpus, "object_store_memory": store},
                              "node_config": {}, "min_workers": min_workers,
                              "max_workers": max_workers},
            },
            "head_node_type": "ray.head.default",
            "docker": {}, "auth": {"ssh_user": os.environ.get("USER", "ray")},
            "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
            "rsync_exclude": [], "rsync_filter": [], "initialization_commands": [],
            "setup_commands": [], "head_setup_commands": [], "worker_setup_commands": [],
            "head_start_ray_commands": [], "worker_start_ray_commands": [],
        }
        self.env = {**os.environ, **LOOPBACK_ENV, "RAY_TMPDIR": self.temp_dir,
                    "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
        self.env.pop("RAY_ADDRESS", None)
        self._store = store

    def start(self, timeout: float = 120) -> str:
        config_path = Path(self.temp_dir) / "autoscaling.json"
        config_path.write_text(json.dumps(self.config))
        ray_cli = str(Path(sys.executable).with_name("ray"))
        subprocess.run(
            [ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1",
             "--port", str(self.port), "--num-cpus", "0", "--temp-dir", self.temp_dir,
             "--autoscaling-config", str(config_path), "--include-dashboard", "false",
             "--object-store-memory", str(self._store), "--disable-usage-stats",
             # every agent port of our own: the defaults may be held by another Ray here
             "--dashboard-agent-listen-port", str(free_port()),
             "--dashboard-agent-grpc-port", str(free_port()),
             "--runtime-env-agent-port", str(free_port()),
             "--metrics-export-port", str(free_port())],
            env=self.env, check=True, capture_output=True, text=True, timeout=timeout)
        return self.address

    def connect(self) -> None:
        """ray.init against this cluster, then wait for its minimum worker nodes."""
        import ray

        from cluster.localdev import use_loopback

        use_loopback()
        ray.init(address=self.address, _temp_dir=self.temp_dir, log_to_driver=False)
        self.wait_workers(lambda n: n >= self.min_workers, 120, f">= {self.min_workers}")

    @staticmethod
    def workers() -> list[str]:
        """Alive worker nodes (nodes with CPU: the head has none)."""
        import ray

        return sorted(n["NodeID"] for n in ray.nodes()
                      if n["Alive"] and n.get("Resources", {}).get("CPU", 0) > 0)

    def wait_workers(self, ok: Any, timeout: float, what: str) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            nodes = self.workers()
            if ok(len(nodes)):
                return nodes
            time.sleep(0.5)
        raise TimeoutError(f"worker nodes never reached {what} in {timeout}s "
                           f"(have {len(self.workers())}); autoscaler log: "
                           f"{self.autoscaler_log_tail()}")

    def autoscaler_log_tail(self, lines: int = 15) -> str:
        logs = sorted(Path(self.temp_dir).glob("session_*/logs/monitor.*"))
        text = "\n".join(p.read_text(errors="replace") for p in logs if p.is_file())
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        stop_processes(self.processes())

    def processes(self) -> list[Any]:
        return processes_with(self.temp_dir)

    def __enter__(self) -> LocalAutoscalingRay:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    cluster = LocalAutoscalingRay()
    print(f"starting a fake autoscaling Ray cluster in {cluster.temp_dir}", flush=True)
    cluster.start()
    print(f"ready: RAY_ADDRESS={cluster.address} (Ctrl-C stops it)", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
