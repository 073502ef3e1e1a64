"""An sshd of our own on a free loopback port, stopped by PID.

The cluster launcher only speaks SSH (and rsync over SSH), so the honest test
of `ray up`/`ray submit` with the local provider goes through a real sshd. A
system sshd, where one runs, is not ours to configure and owns port 22: this
one has its own host key, config, authorized key and port, and sets the
session's HOME to a temp dir, so the login shells the launcher opens read our
`.bashrc` (PATH, Ray and broker variables) and whatever the launcher writes
to `~` stays out of the real home.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from getpass import getuser
from pathlib import Path

import psutil

from cluster.localdev import free_port, stop_processes

SSHD = Path("/usr/sbin/sshd")
# sshd refuses to start without its privilege separation directory; Debian's
# service script creates it, a bare `sshd -D` does not
PRIVSEP_DIR = Path("/run/sshd")


def missing_tools() -> list[str]:
    """What `ray up` over SSH needs and this machine lacks (`./dev setup` installs them)."""
    missing = [] if SSHD.is_file() else [str(SSHD)]
    return missing + [tool for tool in ("ssh", "ssh-keygen", "rsync") if shutil.which(tool) is None]


def proxy_command(port: int) -> str:
    """An ssh ProxyCommand that reaches `port`: the launcher's auth block has no port option.

    bash's /dev/tcp needs no netcat; the %h is ssh's target host. No double
    quotes: rsync splits its `--rsh` string itself and does not handle
    escaped ones.
    """
    return f"bash -c 'exec 3<>/dev/tcp/%h/{port}; cat <&3 & cat >&3'"


class LocalSshd:
    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        self.port = free_port()
        self.key = root / "id_ed25519"
        self.config = root / "sshd_config"
        self.log = root / "sshd.log"
        self.pid_file = root / "sshd.pid"
        self.proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> None:
        host_key = self.root / "ssh_host_ed25519_key"
        for key in (host_key, self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "raytables-test",
                            "-f", str(key)], check=True, capture_output=True, timeout=30)
        # HOME from the key's options: every session the launcher opens gets the temp home
        public = (self.key.with_suffix(".pub")).read_text().strip()
        (self.root / "authorized_keys").write_text(f'environment="HOME={self.home}" {public}\n')
        self.config.write_text("\n".join([
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitUserEnvironment HOME",
            "PrintMotd no",
            "PrintLastLog no",
            "LogLevel VERBOSE",
            "",
        ]))

    def start(self, timeout: float = 20) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self._write_config()
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(SSHD), "-D", "-f", str(self.config), "-p", str(self.port), "-E", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # the pid file is written once the port is bound: a port someone else took
        # in the meantime makes sshd exit instead
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log_tail()}")
            if self.pid_file.exists() and self.pid_file.read_text().strip() == str(self.proc.pid):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{self.port} in {timeout}s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except FileNotFoundError:
            return "(no log)"

    def ssh(self, command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """One command as the launcher would reach it (same options that matter)."""
        return subprocess.run(
            ["ssh", "-i", str(self.key), "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
             "-o", f"UserKnownHostsFile={os.devnull}", "-o", "BatchMode=yes",
             "-o", f"ProxyCommand={proxy_command(self.port)}", f"{getuser()}@127.0.0.1", command],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)

    def stop(self) -> None:
        """The listener and the per-connection sshds it forked (an SSH mux keeps one open)."""
        if self.proc is None:
            return
        try:
            listener = psutil.Process(self.proc.pid)
            stop_processes([listener, *listener.children(recursive=True)])
        except psutil.NoSuchProcess:
            pass
        self.proc.wait(timeout=5)
