"""Faust's Table parameters, each changing behaviour observably in a running pipeline."""

from __future__ import annotations

import math
import time

import pytest

import cluster
from actors.kafka_io import topic_configs
from tests.integration.kafka_util import changelog_state

pytestmark = pytest.mark.integration


class Account(cluster.Record):
    bank: str
    number: int


class Balance(cluster.Record):
    amount: float
    currency: str


def sink():
    import ray

    @ray.remote(num_cpus=0)
    class Sink:
        def __init__(self) -> None:
            self.counts: dict[str, int] = {}

        def add(self, what: str, n: int = 1) -> None:
            self.counts[what] = self.counts.get(what, 0) + n

        def get(self) -> dict[str, int]:
            return dict(self.counts)

    return Sink.remote()


def build(name, bootstrap, topic, data_dir, counter, configs=None):
    import ray

    app = cluster.Cluster(name, broker=f"kafka://{bootstrap}", store="memory://",
                          data_dir=data_dir)
    src = app.topic(topic, partitions=3)

    def recovered():
        ray.get(counter.add.remote("on_recover"))

    def changelog_event(event):
        ray.get(counter.add.remote(f"changelog:{event.key}" if isinstance(event.key, str)
                                   else "changelog"))

    balances = app.table(
        "balances", key_type=Account, value_type=Balance, store="rocksdb://",
        options={"write_buffer_size": 4 << 20}, help="balance per account",
        changelog_topic=f"{name}-custom-balances",
        extra_topic_configs=configs or {"retention.ms": "86400000"},
        on_recover=recovered, on_changelog_event=changelog_event, recovery_buffer_size=2)
    limits = app.table("limits", default=int, use_partitioner=True, is_global=True)
    app.table("notes", use_partitioner=True)
    rates = app.table("rates", default=float, is_global=True, use_partitioner=True)
    converted = app.table("converted", default=float)
    audit = app.table("audit", default=int)
    balances.observe(on_set=lambda key, value: audit.__setitem__(key.bank, audit[key.bank] + 1))

    @app.agent(src)
    async def pay(stream):
        async for ev in stream:
            account = Account(bank=ev["bank"], number=ev["n"])
            old = balances.get(account) or Balance(amount=0.0, currency="EUR")
            balances[account] = Balance(amount=old.amount + ev["amount"], currency="EUR")
            converted[ev["id"]] = ev["amount"] * rates["USD"]
            if ev["amount"] > limits[ev["bank"]]:
                audit["over-limit"] += 1

    return app, src, balances, limits, rates, converted, audit


def test_table_parameters_change_behaviour(bootstrap, ray_local, topic_name, tmp_path):
    import ray

    counter = sink()
    name = f"api-{topic_name}"
    app, src, balances, limits, rates, converted, audit = build(
        name, bootstrap, topic_name, str(tmp_path), counter)
    # keyed by account, so each account's balance lives on one partition
    events = [(Account(bank=f"b{i % 3}", number=i % 4),
               {"id": f"e{i}", "bank": f"b{i % 3}", "n": i % 4, "amount": float(i)})
              for i in range(60)]
    app.start()
    try:
        # use_partitioner: writes from the driver, routed to the key's owner
        limits["b0"] = 10
        limits["b1"] = 1000
        rates["USD"] = 2.0  # a global table: every partition reads it locally
        assert limits["b0"] == 10 and rates["USD"] == 2.0
        del limits["b1"]
        assert "b1" not in limits
        notes = app["notes"]
        notes["x"] = "hello"
        assert notes["x"] == "hello"
        with pytest.raises(cluster.TableWriteError):
            converted["nope"] = 1.0  # without use_partitioner, still refused outside agents
        src.send_many(events)
        app.wait_idle()

        # is_global: events on every partition saw the rate
        assert dict(converted.items()) == {f"e{i}": 2.0 * i for i in range(60)}
        per_partition = [s["counters"].get("events", 0) for s in app.stats()["partitions"].values()]
        assert all(n > 0 for n in per_partition)
        # key_type / value_type: Records round-trip as keys and values
        got = dict(balances.items())
        assert all(isinstance(k, Account) and isinstance(v, Balance) for k, v in got.items())
        expected: dict = {}
        for _, ev, in [(k, v) for k, v in events]:
            key = Account(bank=ev["bank"], number=ev["n"])
            expected[key] = expected.get(key, 0.0) + ev["amount"]
        assert {k: v.amount for k, v in got.items()} == expected
        # on_key_set observer + use_partitioner limits read inside agents
        rows = list(audit.items())  # written on each event's partition: sum the partitions
        assert sum(v for k, v in rows if k.startswith("b")) == 60
        over = sum(1 for _, ev in events if ev["amount"] > {"b0": 10}.get(ev["bank"], 0))
        assert sum(v for k, v in rows if k == "over-limit") == over
        # store / options / help per table
        tables = app.stats()["partitions"][0]["tables"]
        assert tables["balances"]["store"] == "RocksDBStore"
        assert tables["balances"]["store_options"]["write_buffer_size"] == 4 << 20
        assert tables["notes"]["store"] == "MemoryStore"
        assert tables["balances"]["help"] == "balance per account"
        assert "rates" not in tables and "limits" not in tables  # global: replicas, not partition state
        # last_closed_window: one per partition from the driver
        assert set(converted.last_closed_window) == {0, 1, 2}
    finally:
        app.stop()

    # changelog_topic override and extra_topic_configs on the created topic
    import asyncio

    configs = asyncio.run(topic_configs(bootstrap, f"{name}-custom-balances"))
    assert configs["retention.ms"] == "86400000" and configs["cleanup.policy"] == "compact"
    assert len(changelog_state(bootstrap, f"{name}-custom-balances")) == len(expected)
    # use_partitioner writes survive a restart (they are in the changelog)
    assert changelog_state(bootstrap, f"{name}-limits-changelog") == {"b0": 10}
    assert changelog_state(bootstrap, f"{name}-notes-changelog") == {"x": "hello"}

    # restart: on_recover, on_changelog_event, recovery_buffer_size are observable
    before = ray.get(counter.get.remote())
    assert before.get("on_recover", 0) == 3  # once per partition at the first start
    # on another node's disk: the RocksDB store of `balances` is rebuilt from its changelog
    again, _, balances, limits, rates, _, _ = build(name, bootstrap, topic_name,
                                                     str(tmp_path / "elsewhere"), counter)
    again.start()
    try:
        assert limits["b0"] == 10 and rates["USD"] == 2.0 and again["notes"]["x"] == "hello"
        recovery = [p["recovery"]["tables"]["balances"]
                    for p in again.stats()["partitions"].values()]
        replayed = sum(r["records"] for r in recovery)
        counts = ray.get(counter.get.remote())
        assert counts["on_recover"] == 6
        assert replayed > 0
        assert counts["changelog"] - before.get("changelog", 0) == replayed
        assert all(r["applies"] == math.ceil(r["records"] / 2) for r in recovery)
    finally:
        again.stop()

    # extra_topic_configs that differ from the existing topic are reported, not ignored
    other, *_ = build(name, bootstrap, topic_name, str(tmp_path), counter,
                      configs={"retention.ms": "3600000"})
    with pytest.raises(cluster.ConfigError, match="retention.ms"):
        other.start()
    time.sleep(0)
