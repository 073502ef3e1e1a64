"""The README's main job: a local broker and Ray, the page-view example end to
end, its windowed table printed, everything stopped again.

`./dev demo` runs `python -m cluster.demo`; `--events N` sets the event count.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from cluster.localdev import REPO, LocalKafka


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--example", default="pageviews", choices=["pageviews", "word_count"])
    args = parser.parse_args(argv)
    started = time.monotonic()
    with LocalKafka() as kafka:
        print(f"Kafka broker up at {kafka.bootstrap} "
              f"(pid {kafka.pid}, {time.monotonic() - started:.1f}s)", flush=True)
        env = dict(os.environ, RAYTABLES_BROKER=f"kafka://{kafka.bootstrap}",
                   RAYTABLES_DATA_DIR=str(kafka.workdir / "state"))
        demo_args = ["--demo", str(args.events)] if args.example == "pageviews" else ["--demo"]
        script = REPO / "examples" / f"{args.example}.py"
        proc = subprocess.run([sys.executable, str(script), *demo_args], env=env)
        return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
