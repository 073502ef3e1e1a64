"""Waits until a Kafka broker answers a metadata request, or fails fast.

Used by deploy/kafka.sh: an open TCP port is not enough (the broker accepts
connections before its metadata is ready), so this asks for cluster metadata
through aiokafka until the broker lists itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time


async def _metadata_ok(bootstrap: str) -> bool:
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()


def main() -> int:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    bootstrap, timeout, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"kafka_ready: broker process {pid} exited", file=sys.stderr)
            return 1
        if asyncio.run(_metadata_ok(bootstrap)):
            return 0
        time.sleep(0.2)
    return 1


if __name__ == "__main__":
    sys.exit(main())
