"""A `ray start --head` cluster of our own for job-submission tests, stopped by PID.

`ray stop` would kill every Ray process on the machine (the session's local
Ray too), so this finds the processes by the private temp dir in their
command lines and stops exactly those.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from cluster.localdev import LOOPBACK_ENV, free_port, processes_with, ray_temp_dir, stop_processes

RAY = str(Path(sys.executable).with_name("ray"))


class RayHead:
    def __init__(self, num_cpus: int = 2) -> None:
        self.temp_dir = ray_temp_dir()
        self.port = free_port()
        self.dashboard_port = free_port()
        self.num_cpus = num_cpus
        self.env = {**os.environ, **LOOPBACK_ENV, "RAY_TMPDIR": self.temp_dir}
        self.env.pop("RAY_ADDRESS", None)
        # as with an activated venv: the job's `python` is the one raytables is installed in
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def start(self) -> None:
        subprocess.run(
            [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(self.port),
             "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port),
             "--include-dashboard", "true", "--temp-dir", self.temp_dir,
             "--num-cpus", str(self.num_cpus), "--disable-usage-stats",
             # every agent port of our own: the defaults (e.g. 52365) may be held by
             # the session's local Ray, and its job agent would then never come up
             "--dashboard-agent-listen-port", str(free_port()),
             "--dashboard-agent-grpc-port", str(free_port()),
             "--runtime-env-agent-port", str(free_port()),
             "--metrics-export-port", str(free_port())],
            env=self.env, check=True, capture_output=True, text=True, timeout=180)

    def processes(self) -> list[psutil.Process]:
        return processes_with(self.temp_dir)

    def stop(self) -> None:
        stop_processes(self.processes())

    def submit(self, working_dir: str, entrypoint: list[str], env_vars: dict[str, str],
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
        import json

        deadline = time.monotonic() + 60
        while True:
            proc = subprocess.run(
                [RAY, "job", "submit", "--address", self.dashboard, "--working-dir", working_dir,
                 "--runtime-env-json", json.dumps({"env_vars": env_vars}), "--", *entrypoint],
                env=self.env, capture_output=True, text=True, timeout=timeout)
            # the dashboard answers before its job agent has registered
            if "No available agent" not in proc.stdout + proc.stderr or time.monotonic() > deadline:
                return proc
            time.sleep(1)

    def wait_gone(self, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.processes():
                return True
            time.sleep(0.2)
        return False
