"""`ray up` + `ray submit` with the cluster launcher's local provider, for real.

The launcher reaches its nodes only over SSH and copies files with rsync, so
this goes through an sshd of our own on a free loopback port (this machine is
the one-node cluster), with deploy/ray/local-ssh.yaml filled in: the
documented path from a laptop to a running pipeline, not a shortcut around it.

Nothing here may run `ray stop` (it kills every Ray on the machine, the
session's too) and `ray down` always runs it, so what the test started is
stopped by PID: the sshd and its sessions, then every process whose command
line or environment names the test's temp dir (the sessions' HOME is in it),
which takes in the head's Ray and the launcher's SSH mux.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from getpass import getuser
from pathlib import Path

import psutil
import pytest

from cluster.localdev import LOOPBACK_ENV, REPO, free_port, processes_with, stop_processes
from tests.helpers import wait_for
from tests.integration.kafka_util import forget_app
from tests.integration.sshd import LocalSshd, missing_tools

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(missing_tools()),
                       reason=f"ray up over SSH needs {', '.join(missing_tools())}: "
                              "`./dev setup` installs openssh-server and rsync as root with apt-get"),
]

RAY = str(Path(sys.executable).with_name("ray"))
TEMPLATE = REPO / "deploy" / "ray" / "local-ssh.yaml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# examples/word_count.py's fixed names: test_job_submit.py runs the same example on the same broker
WORD_COUNT_APP, WORD_COUNT_TOPICS = "word-count", {"sentences", "words"}


@dataclass
class LauncherRun:
    root: Path
    home: Path
    ray_temp_dir: Path
    cluster_name: str
    ray_address: str
    config: Path
    env: dict[str, str]
    sshd: LocalSshd

    @property
    def state_file(self) -> Path:
        """The local provider's record of the head (RAY_TMPDIR puts it under our root)."""
        return self.root / "ray" / f"cluster-{self.cluster_name}.state"

    @property
    def ssh_control_dir(self) -> Path:
        """Where the launcher's SSH connection multiplexer lives (command_runner.SSHCommandRunner)."""
        user = hashlib.sha256(getuser().encode()).hexdigest()[:10]
        cluster = hashlib.sha256(self.cluster_name.encode()).hexdigest()[:10]
        return Path(f"/tmp/ray_ssh_{user}/{cluster}")

    def ray(self, *args: str, timeout: float) -> tuple[int, str]:
        """A `ray` CLI command, its output in a file and its process group killed on timeout.

        Through pipes, the ssh children of a timed-out command (a remote
        script that hangs) would keep them open and the wait with them.
        """
        log = self.root / f"ray-{args[0]}-{uuid.uuid4().hex[:6]}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([RAY, *args], env=self.env, cwd=REPO, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code = -1
        return code, ANSI.sub("", log.read_text(errors="replace")).replace("\r", "")

    def leftovers(self) -> list[psutil.Process]:
        """Ours: named by our root (Ray, sshd, every session's HOME) or the launcher's SSH mux."""
        found = processes_with(str(self.root)) + processes_with(str(self.ssh_control_dir))
        return list({proc.pid: proc for proc in found}.values())


def write_config(run_root: Path, values: dict[str, str]) -> Path:
    text = string.Template(TEMPLATE.read_text()).safe_substitute(values)
    unfilled = set(re.findall(r"\$\{(\w+)\}", text))
    assert not unfilled, f"{TEMPLATE.name}: no value for {sorted(unfilled)}"
    path = run_root / "cluster.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def launcher(bootstrap: str) -> Iterator[LauncherRun]:
    # short: Ray's unix socket paths under it must stay below 108 bytes
    root = Path(tempfile.mkdtemp(prefix="rt-up-", dir="/tmp"))
    home, ray_temp_dir = root / "home", root / "r"
    sshd = LocalSshd(root / "sshd", home)
    cluster_name = f"rt-{uuid.uuid4().hex[:8]}"
    ray_port = free_port()
    venv_bin = Path(sys.executable).parent
    session_env = {**LOOPBACK_ENV, "RAY_TMPDIR": str(root),
                   "RAY_ADDRESS": f"127.0.0.1:{ray_port}",
                   "RAYTABLES_BROKER": f"kafka://{bootstrap}",
                   "RAYTABLES_DATA_DIR": str(root / "data")}
    config = write_config(root, {
        "CLUSTER_NAME": cluster_name, "SSH_USER": getuser(), "SSH_PRIVATE_KEY": str(sshd.key),
        "SSH_PORT": str(sshd.port), "RAY_PORT": str(ray_port), "RAY_TEMP_DIR": str(ray_temp_dir),
        "NUM_CPUS": "2", "RAY_CLIENT_PORT": str(free_port()), "AGENT_HTTP_PORT": str(free_port()),
        "AGENT_GRPC_PORT": str(free_port()), "RUNTIME_ENV_AGENT_PORT": str(free_port()),
        "METRICS_PORT": str(free_port())})
    # the launcher's login shells (`bash --login -i`, `source ~/.bashrc`) on the "remote" side
    home.mkdir(parents=True)
    (home / ".bashrc").write_text(
        "# the venv raytables is installed in, and the cluster and broker this head runs with\n"
        f'export PATH="{venv_bin}:$PATH"\n'
        + "".join(f"export {key}={shlex.quote(value)}\n" for key, value in session_env.items()))
    # the machine running `ray` (here the same one): its ~ and temp files in our root too
    env = {**os.environ, **LOOPBACK_ENV, "HOME": str(home), "TMPDIR": str(root),
           "RAY_TMPDIR": str(root), "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    run = LauncherRun(root, home, ray_temp_dir, cluster_name, session_env["RAY_ADDRESS"], config, env, sshd)
    try:
        sshd.start()
        yield run
    finally:
        sshd.stop()  # first: its sessions' commands (a driver still running, say) go with it
        stop_processes(run.leftovers())  # the head's Ray, the way `ray down` cannot; the SSH mux
        left = [f"{proc.pid} {proc.info['cmdline']}" for proc in run.leftovers()]
        shutil.rmtree(run.ssh_control_dir, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"processes left behind: {left}"


@pytest.fixture
def fresh_word_count(bootstrap: str) -> Iterator[None]:
    """No earlier run's sentences, counts or offsets, before or after: every count must be 1000."""
    forget_app(bootstrap, WORD_COUNT_APP, WORD_COUNT_TOPICS)
    yield
    forget_app(bootstrap, WORD_COUNT_APP, WORD_COUNT_TOPICS)


def test_ray_up_then_ray_submit_runs_the_word_count_example(fresh_word_count: None,
                                                             launcher: LauncherRun) -> None:
    # the premise: the launcher's login shell on the head finds our HOME and the venv
    probe = launcher.sshd.ssh("bash --login -c -i 'source ~/.bashrc; echo $HOME; command -v python ray'")
    venv_bin = Path(sys.executable).parent
    assert probe.stdout.split() == [str(launcher.home), str(venv_bin / "python"), str(venv_bin / "ray")], (
        f"{probe.stdout}\n{probe.stderr}\nsshd log: {launcher.sshd.log_tail()}")

    code, out = launcher.ray("up", "-y", "--no-config-cache", str(launcher.config), timeout=240)
    assert code == 0, out[-6000:]
    assert launcher.state_file.exists(), "the local provider kept no state where RAY_TMPDIR points"
    assert not Path("/tmp/ray", launcher.state_file.name).exists()
    assert (launcher.home / "ray_bootstrap_config.yaml").exists(), out[-3000:]

    def head_autoscaler_uses_the_local_provider() -> bool:
        logs = launcher.ray_temp_dir.glob("session_*/logs/monitor.log")
        return any("Loaded cluster state: ['127.0.0.1']" in log.read_text() for log in logs)

    # --autoscaling-config=~/ray_bootstrap_config.yaml works: the head's autoscaler
    # built the local provider from the config `ray up` copied there
    wait_for(head_autoscaler_uses_the_local_provider, timeout=60, what="the head's autoscaler")

    code, out = launcher.ray("submit", str(launcher.config), "examples/word_count.py", "--demo",
                             timeout=240)
    assert code == 0, out[-6000:]
    rows = dict(re.findall(r"│ (\w+)\s*│ (\d+)\s*│", out))
    assert rows == {"brown": "1000", "fox": "1000", "quick": "1000", "the": "1000"}, out[-6000:]
    # the script joined the cluster `ray up` started rather than starting a Ray of its own
    assert f"Connecting to existing Ray cluster at address: {launcher.ray_address}" in out, out[-6000:]
    drivers = list(launcher.ray_temp_dir.glob("session_*/logs/python-core-driver-*"))
    assert drivers, f"no driver of the submitted script in {launcher.ray_temp_dir}"
