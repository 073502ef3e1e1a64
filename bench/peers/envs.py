"""Private virtualenvs for the peers whose dependencies clash with raytables'.

Faust and Quix Streams pin aiokafka / confluent-kafka / rocksdict versions of
their own and must never be installed into the project's venv (ray and
aiokafka there are the versions raytables is tested with). Each peer gets a
venv under the cache dir, outside the repository::

    ${RAYTABLES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/raytables}/bench-venvs/<name>

(the same cache root ``deploy/kafka.sh`` uses for the broker's jars).

:func:`ensure_venv` is idempotent: a venv is reused while its pin file
matches, and rebuilt from scratch when the pins (or the interpreter) change.
A half-built venv is never reused: the ``.complete`` stamp is written last.

Standard library only, so it can run from any interpreter.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

PEER_REQUIREMENTS: dict[str, list[str]] = {
    # The [rocksdict] extra gives faust's "rocksdb://" store a driver:
    # faust.stores.rocksdb falls back to rocksdict when python-rocksdb
    # (unbuildable on current Pythons) is missing. The transitive pins are the
    # versions benchmarked, fixed so numbers stay comparable over time.
    "faust": [
        "faust-streaming[rocksdict]==0.15.3",
        "mode-streaming==0.7.1",
        "aiokafka==0.14.0",
        "rocksdict==0.3.29",
    ],
    # RocksDB state and changelog topics are Quix's defaults; it depends on
    # rocksdict and confluent-kafka itself.
    "quix": [
        "quixstreams==3.28.1",
        "confluent-kafka==2.12.2",
        "rocksdict==0.3.29",
    ],
}

PEER_PYTHON = "3.11"
"""Interpreter version of the peer venvs (faust-streaming 0.15.3 is tested on it)."""


def cache_root() -> Path:
    """The raytables cache dir (``RAYTABLES_CACHE`` overrides)."""
    explicit = os.environ.get("RAYTABLES_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "raytables"


def venv_dir(name: str) -> Path:
    return cache_root() / "bench-venvs" / name


def venv_python(name: str) -> Path:
    return venv_dir(name) / "bin" / "python"


def base_python() -> str:
    """A Python 3.11 to build venvs from (``RAYTABLES_PEER_PYTHON`` overrides).

    Prefers the interpreter behind the running one (the main venv is 3.11),
    then ``python3.11`` on PATH.
    """
    explicit = os.environ.get("RAYTABLES_PEER_PYTHON")
    if explicit:
        return explicit
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == PEER_PYTHON:
        return getattr(sys, "_base_executable", None) or sys.executable
    found = shutil.which(f"python{PEER_PYTHON}")
    if not found:
        raise RuntimeError(
            f"no python{PEER_PYTHON} found for the peer venvs; set RAYTABLES_PEER_PYTHON"
        )
    return found


def _stamp(requirements: list[str], python: str) -> str:
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    text = "\n".join(["python " + version, *requirements])
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_venv(name: str, requirements: list[str] | None = None) -> Path:
    """Return the python of peer venv ``name``, building it if needed.

    ``requirements`` defaults to :data:`PEER_REQUIREMENTS[name]`. Holds a file
    lock while checking/building, so concurrent callers build it once.
    """
    reqs = list(requirements if requirements is not None else PEER_REQUIREMENTS[name])
    vdir = venv_dir(name)
    vdir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = vdir.parent / f".{name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = base_python()
        stamp = _stamp(reqs, python)
        complete = vdir / ".complete"
        if complete.exists() and complete.read_text().strip() == stamp:
            return venv_python(name)
        _build(vdir, python, reqs)
        complete.write_text(stamp + "\n")
    return venv_python(name)


def _build(vdir: Path, python: str, requirements: list[str]) -> None:
    """(Re)create the venv and install the pins; pip's log goes to install.log."""
    if vdir.exists():
        shutil.rmtree(vdir)
    print(f"bench: building peer venv {vdir} ({', '.join(requirements)})", file=sys.stderr)
    subprocess.run([python, "-m", "venv", str(vdir)], check=True)
    (vdir / "requirements.txt").write_text("\n".join(requirements) + "\n")
    log = vdir / "install.log"
    with open(log, "w") as out:
        rc = subprocess.run(
            [
                str(vdir / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-r",
                str(vdir / "requirements.txt"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode
    if rc != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
        raise RuntimeError(f"pip install into {vdir} failed (see {log}):\n{tail}")


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.peers.envs [faust quix]``: build (or check) peer venvs."""
    names = (argv if argv is not None else sys.argv[1:]) or list(PEER_REQUIREMENTS)
    for name in names:
        print(f"{name}: {ensure_venv(name)}")


if __name__ == "__main__":
    main()
