"""Peer implementations of the raytables throughput benchmark.

Each peer (plain-aiokafka ceiling, Faust, Quix Streams) consumes the topic made
by :mod:`bench.workload` and keeps the same two tables (count per key, tumbling
10 s count per key). Faust and Quix run in venvs of their own (see
:mod:`bench.peers.envs`), so this package and :mod:`bench.peers.common` must
import nothing beyond the standard library.
"""
