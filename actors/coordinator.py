"""The app's coordinator: creates one partition actor per partition, keeps them
alive, and publishes who owns which partition so handles can route.

Its loop is level-triggered: observe each partition's health, recreate what
is dead (the new actor recovers its state from the store and the changelog),
publish the assignment. Every public call is idempotent, and the loop never
dies on one error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ray import cloudpickle  # Ray's own: classes keep their identity across Ray calls

from actors.autoscale import Autoscaler, Capacity
from actors.peers import PartitionPeer
from actors.planner import Action, PartitionView, free_slot, plan, rebalance
from cluster import tracing
from cluster.config import AppSpec

log = logging.getLogger("raytables.coordinator")


class CoordinatorRuntime:
    def __init__(self, spec_bytes: bytes, partition_actor_factory: Any) -> None:
        self.spec_bytes = spec_bytes
        self.spec: AppSpec = cloudpickle.loads(spec_bytes)
        self.config = self.spec.config
        self._factory = partition_actor_factory
        tracing.configure(self.config.tracing, self.config.app, "coordinator")
        self.actives: dict[int, PartitionPeer] = {}
        self.standbys: dict[int, list[PartitionPeer]] = {}
        self.restarts: dict[int, int] = {}
        self.standbys_wanted = 0
        self.pending: dict[int, set[int]] = {}  # partition -> slots of standbys starting
        self._background: set[asyncio.Task[Any]] = set()
        self.version = 0
        self.events: list[dict[str, Any]] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._starting: list[PartitionPeer] = []
        self._lock = asyncio.Lock()  # the reconcile loop and moves take turns
        self.autoscaler = Autoscaler(self.config.scale_policy) if self.config.autoscale else None
        self.capacity = Capacity()
        self.cordoned: set[str] = set()  # nodes drained by hand (`Cluster.drain`)
        self.ray_draining: set[str] = set()  # nodes Ray is draining (preemption, `ray drain-node`)
        self.moves: list[dict[str, Any]] = []

    def _record(self, kind: str, **details: Any) -> None:
        entry = {"at": time.time(), "event": kind, **details}
        self.events.append(entry)
        del self.events[:-200]
        log.info("coordinator: %s %s", kind, details)

    def _create(self, partition: int, role: str, slot: int, avoid_node: str | None = None,
                on_node: str | None = None) -> PartitionPeer:
        avoid = ({avoid_node} if avoid_node else set()) | self._leaving()
        handle = self._factory(self.config, self.spec_bytes, partition, role, slot,
                               frozenset(avoid), on_node)
        return PartitionPeer(partition, self.config.partition_actor_name(partition, slot), handle,
                             role=role, slot=slot, avoid_node=avoid_node)

    async def _start_peer(self, partition: int, role: str, slot: int,
                          avoid_node: str | None, on_node: str | None = None) -> PartitionPeer:
        """Starts a new replica, retrying while its predecessor's name or store is still held."""
        deadline = time.monotonic() + self.config.start_timeout
        while True:
            peer = None
            try:
                peer = self._create(partition, role, slot, avoid_node, on_node)
                await peer.start(self.config.start_timeout)
                await peer.refresh()
                return peer
            except Exception as exc:  # noqa: BLE001
                if peer is not None:
                    peer.kill()
                if time.monotonic() > deadline or self._stopping:
                    raise
                log.warning("partition %d slot %d failed to start (%r), retrying",
                            partition, slot, exc)
                await asyncio.sleep(0.5)

    async def start(self) -> dict[str, Any]:
        """Returns once every partition has recovered and is consuming."""
        if self._loop_task is not None:
            return self.assignment()
        with tracing.span("coordinator.assign", {"raytables.app": self.config.app}) as s:
            result = await self._start()
            if s is not None:
                s.set_attribute("raytables.partitions", self.spec.partitions)
                s.set_attribute("raytables.standbys", self.standbys_wanted)
            return result

    async def _start(self) -> dict[str, Any]:
        self.spec.partitions = await prepare_topics(self.spec)
        self.spec_bytes = cloudpickle.dumps(self.spec)
        nodes = alive_nodes()
        wanted = self.config.standby_replicas
        self.standbys_wanted = (1 if len(nodes) > 1 else 0) if wanted is None else wanted
        peers = [self._create(p, "active", 0) for p in range(self.spec.partitions)]
        self._starting = peers
        results = await asyncio.gather(*(peer.start(self.config.start_timeout) for peer in peers),
                                       return_exceptions=True)
        failed = {peer.partition: r for peer, r in zip(peers, results)
                  if isinstance(r, BaseException)}
        if failed:
            for peer in peers:
                peer.kill()
            details = "; ".join(f"partition {p}: {r!r}" for p, r in failed.items())
            cause = next(iter(failed.values()))
            if isinstance(cause, Exception) and not isinstance(cause, asyncio.TimeoutError):
                raise cause
            raise RuntimeError(f"app {self.config.app!r} failed to start: {details}")
        for peer in peers:
            await peer.refresh()
            self.actives[peer.partition] = peer
            self.standbys[peer.partition] = []
        self._starting = []
        self.version += 1
        self._record("assigned", partitions=self.spec.partitions, standbys=self.standbys_wanted)
        await self.reconcile()  # standbys
        await self._wait_standbys(self.config.start_timeout)
        self._loop_task = asyncio.get_running_loop().create_task(self._reconcile_forever())
        return self.assignment()

    async def _wait_standbys(self, timeout: float) -> None:
        """At start, standbys that can be placed are given the time to come up."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout)

    def assignment(self) -> dict[str, Any]:
        return {"version": self.version, "partitions": self.spec.partitions,
                "owners": {p: peer.handle for p, peer in self.actives.items()}}

    async def _reconcile_forever(self) -> None:
        while not self._stopping:
            try:
                self._watch_ray_draining()
                async with self._lock:
                    await self.reconcile()
                if self.autoscaler is not None:
                    await self.autoscale_step()
                if self.config.rebalance and not any(self.pending.values()):
                    await self.rebalance_step()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad step
                log.exception("coordinator reconcile step failed")
            await asyncio.sleep(0.5)

    async def autoscale_step(self) -> None:
        """Lag and processing time decide the capacity asked of Ray's autoscaler.

        Scale-out raises the request and rebalance spreads actives onto the nodes
        that join; scale-in drains the nodes added since (rebalance packs actives
        back, reconcile restarts standbys elsewhere) and releases the request only
        once nothing of ours is left on them, so the autoscaler sees them idle.
        """
        assert self.autoscaler is not None
        progress = await self.progress()
        lag = sum(p.get("total_lag", 0) for p in progress)
        decision = self.autoscaler.observe(lag, sum(p.get("busy_seconds", 0.0) for p in progress),
                                           time.monotonic(), max(1, len(progress)))
        from ray.autoscaler.sdk import request_resources

        cpus = node_cpus()
        alive = set(cpus)
        self.capacity.forget_gone(alive)
        if decision is not None and decision > 0:
            total = self.capacity.scale_out(cpus, decision)
            request_resources(bundles=[{"CPU": 1}] * total)
            self._record("scale_out", requested_cpus=total, extra_cpus=decision, lag=lag,
                         busy=round(self.autoscaler.busy, 2))
        elif decision == 0:
            draining = self.capacity.scale_in(alive)
            self._record("scale_in", draining=sorted(draining), lag=lag,
                         busy=round(self.autoscaler.busy, 2))
        if self.capacity.ready_to_release({p.node_id for p in self._all()}) and \
                not any(self.pending.values()):
            request_resources(bundles=[])
            self.capacity.release()
            self._record("scale_released", draining=sorted(self.capacity.draining))

    def _leaving(self) -> frozenset[str]:
        """Nodes nothing of ours may stay on: drained by hand, by Ray, or by the scale-in."""
        return frozenset(self.capacity.draining | self.cordoned | self.ray_draining)

    def _watch_ray_draining(self) -> None:
        draining = ray_draining_nodes()
        if draining != self.ray_draining:
            self._record("ray_draining", nodes=sorted(draining))
            self.ray_draining = draining

    async def drain(self, node_id: str, wait: bool = True, timeout: float = 300) -> dict[str, Any]:
        """Moves every replica off `node_id` (maintenance, a node to hand back) and keeps
        new ones off it until `undrain`. With `wait`, returns once it holds none."""
        if node_id not in alive_nodes():
            raise ValueError(f"node {node_id} is not an alive node with CPUs: nothing to drain")
        self.cordoned.add(node_id)
        self._record("drain", node=node_id)
        deadline = time.monotonic() + timeout
        while wait and any(p.node_id == node_id for p in self._all()):
            if time.monotonic() > deadline:
                left = sorted(f"{p.partition}/{p.role}" for p in self._all()
                              if p.node_id == node_id)
                raise TimeoutError(f"node {node_id} still holds {left} after {timeout:.0f}s")
            await asyncio.sleep(0.2)
        return {"node": node_id, "left": not any(p.node_id == node_id for p in self._all())}

    async def undrain(self, node_id: str) -> None:
        self.cordoned.discard(node_id)
        self._record("undrain", node=node_id)

    async def rebalance_step(self) -> None:
        """When nodes join (or partitions piled up on one), move actives toward balance;
        while nodes drain, move actives off them. Up to `parallel_moves` at once:
        distinct partitions hand over independently, and each new replica's start
        (seconds on a busy machine) overlaps the others'."""
        async with self._lock:
            draining = self._leaving()
            nodes = alive_nodes() - draining
            moves = rebalance({p: peer.node_id for p, peer in self.actives.items()}, nodes,
                              draining)[:max(1, self.config.parallel_moves)]
            if not moves:
                return
            self._record("rebalance", moves=[{"partition": p, "to": n} for p, n in moves],
                         draining=bool(draining))
            results = await asyncio.gather(*(self._move(p, n) for p, n in moves),
                                           return_exceptions=True)
            for (p, _), r in zip(moves, results):
                if isinstance(r, BaseException):
                    self._record("move_failed", partition=p, error=repr(r))

    async def reconcile(self) -> None:
        """Observe health, plan, act: promote or replace dead actives, keep standbys."""
        peers = [*self.actives.values(), *(s for ss in self.standbys.values() for s in ss)]
        health = dict(zip((id(p) for p in peers),
                          await asyncio.gather(*(p.healthy() for p in peers))))
        draining = self._leaving()
        nodes = alive_nodes() - draining
        # replicas that joined while we awaited (a standby finishing its start) count as healthy
        views = {
            p: PartitionView(
                active=(self.actives[p].replica(health.get(id(self.actives[p]), True))
                        if p in self.actives else None),
                standbys=[s.replica(health.get(id(s), True)) for s in self.standbys.get(p, [])],
                pending=set(self.pending.get(p, ())))
            for p in range(self.spec.partitions)
        }
        actions = plan(views, self.standbys_wanted, nodes, draining)
        if not actions or self._stopping:
            return
        changed = False
        for action in actions:
            changed |= await self._act(action)
        if changed:
            self.version += 1

    async def _act(self, action: Action) -> bool:
        p = action.partition
        if action.kind == "drop":
            peer = self._find(p, action.slot)
            if peer is not None:
                self._record("replica_dead", partition=p, slot=peer.slot, role=peer.role,
                             error=peer.last_error)
                peer.kill()
                if self.actives.get(p) is peer:
                    del self.actives[p]
                else:
                    self.standbys[p].remove(peer)
            return False
        if action.kind == "promote":
            peer = self._find(p, action.slot)
            assert peer is not None
            started = time.monotonic()
            try:
                with tracing.span("failover.promote", {"raytables.partition": p,
                                                       "raytables.slot": peer.slot}):
                    info = await peer.call("promote", timeout=self.config.start_timeout)
            except Exception as exc:  # noqa: BLE001 - the standby died too: next round replaces it
                peer.last_error = repr(exc)
                self._record("promotion_failed", partition=p, slot=peer.slot, error=repr(exc))
                return False
            self.standbys[p].remove(peer)
            peer.role = "active"
            self.actives[p] = peer
            self.restarts[p] = self.restarts.get(p, 0) + 1
            self._record("standby_promoted", partition=p, slot=peer.slot, node=peer.node_id,
                         seconds=round(time.monotonic() - started, 3),
                         recovery=info.get("recovery"))
            return True
        if action.kind == "create_active":
            peer = await self._start_peer(p, "active", action.slot, action.avoid_node)
            self.actives[p] = peer
            self.restarts[p] = self.restarts.get(p, 0) + 1
            self._record("partition_restarted", partition=p, slot=peer.slot, node=peer.node_id,
                         recovery=peer.info.get("recovery"))
            return True
        # a standby may wait for capacity (a new node): start it without holding up the loop
        self.pending.setdefault(p, set()).add(action.slot)
        task = asyncio.get_running_loop().create_task(self._add_standby(p, action))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return False

    async def _add_standby(self, p: int, action: Action) -> None:
        try:
            peer = await self._start_peer(p, "standby", action.slot, action.avoid_node,
                                          action.on_node)
        except Exception as exc:  # noqa: BLE001 - the next reconcile round plans it again
            self._record("standby_failed", partition=p, slot=action.slot, error=repr(exc))
            return
        finally:
            self.pending.get(p, set()).discard(action.slot)
        if self._stopping:
            peer.kill()
            return
        self.standbys.setdefault(p, []).append(peer)
        self._record("standby_started", partition=p, slot=peer.slot, node=peer.node_id)

    async def move(self, p: int, node_id: str | None = None) -> dict[str, Any]:
        """Live migration of partition p: no committed state lost or duplicated.

        A new replica catches up from the changelog where it should run while the
        active switches to small batches; the active then stops at a batch
        boundary (flushing its changelogs and committing its offsets); the new
        replica reads the last changelog records and takes over from the committed
        offsets. The pause is the time between the two.
        """
        async with self._lock:
            return await self._move(p, node_id)

    async def _move(self, p: int, node_id: str | None) -> dict[str, Any]:
        old = self.actives[p]
        used = {r.slot for r in [old, *self.standbys.get(p, [])]} | self.pending.get(p, set())
        with tracing.span("partition.move", {"raytables.partition": p}):
            others = alive_nodes() - {old.node_id}
            avoid = old.node_id if node_id is None and others else None
            target = await self._start_peer(p, "standby", free_slot(used), avoid, node_id)
            try:
                await asyncio.gather(old.call("prepare_handoff"), target.call("warm_up"))
                deadline = time.monotonic() + self.config.start_timeout
                while (await target.call("progress")).get("changelog_lag", 0) > 0:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"partition {p}: the new replica never caught up")
                    await asyncio.sleep(0.05)
            except BaseException:
                # the move is off: the active keeps serving, with its full batches again
                target.kill()
                await old.call("prepare_handoff", False)
                raise
            paused = time.monotonic()
            try:
                await old.call("stop", timeout=60)
                stopped = time.monotonic()
                info = await target.call("promote", timeout=self.config.start_timeout)
            except BaseException:
                # neither may serve now: the next reconcile round starts a fresh active,
                # which recovers from the changelog the stopped one flushed
                target.kill()
                old.kill()
                self.actives.pop(p, None)
                raise
            pause = time.monotonic() - paused
        old.kill()
        target.role = "active"
        self.actives[p] = target
        self.version += 1
        move = {"partition": p, "from": old.node_id, "to": target.node_id,
                "pause_seconds": round(pause, 3), "stop_seconds": round(stopped - paused, 3),
                "tail_records": (info.get("recovery") or {}).get("records", 0),
                "promotion_steps": info.get("promotion_steps")}
        self.moves.append(move)
        self._record("partition_moved", **move)
        return move

    def _find(self, partition: int, slot: int) -> PartitionPeer | None:
        for peer in [self.actives.get(partition), *self.standbys.get(partition, [])]:
            if peer is not None and peer.slot == slot:
                return peer
        return None

    def _all(self) -> list[PartitionPeer]:
        return [*self.actives.values(), *(s for ss in self.standbys.values() for s in ss)]

    async def recovery_progress(self) -> list[dict[str, Any]]:
        """Each starting partition's changelog replay: records done/total, rate, eta."""
        peers = self._starting or list(self.actives.values())
        results = await asyncio.gather(*(p.call("recovery_status", timeout=5) for p in peers),
                                       return_exceptions=True)
        return [r for r in results if isinstance(r, dict)]

    async def progress(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(p.call("progress") for p in self.actives.values())))

    async def replicas(self) -> list[dict[str, Any]]:
        """Every replica with its role, node and lag (standbys: changelog lag)."""
        results = await asyncio.gather(*(p.call("progress") for p in self._all()),
                                       return_exceptions=True)
        return [r if not isinstance(r, BaseException) else {"partition": p.partition,
                                                            "slot": p.slot, "error": repr(r)}
                for p, r in zip(self._all(), results)]

    async def stats(self) -> dict[str, Any]:
        parts = await asyncio.gather(*(p.call("stats") for p in self.actives.values()),
                                     return_exceptions=True)
        return {
            "app": self.config.app,
            "version": self.version,
            "standby_replicas": self.standbys_wanted,
            "partitions": {p: (r if not isinstance(r, BaseException) else {"error": repr(r)})
                           for p, r in zip(self.actives, parts)},
            "standbys": {p: [{"slot": s.slot, "node": s.node_id} for s in ss]
                         for p, ss in self.standbys.items()},
            "restarts": {p: self.restarts.get(p, 0) for p in range(self.spec.partitions)},
            "moves": self.moves[-50:],
            "drained_nodes": sorted(self.cordoned),
            "ray_draining_nodes": sorted(self.ray_draining),
            "autoscale": None if self.autoscaler is None else {
                "extra_cpus": self.autoscaler.requested_cpus,
                "requested_cpus": (0 if self.capacity.released
                                   else self.capacity.home_cpus + self.autoscaler.requested_cpus),
                "busy": round(self.autoscaler.busy, 3),
                "home_nodes": sorted(self.capacity.home or ()),
                "draining": sorted(self.capacity.draining),
                "decisions": [e for e in self.events if e["event"].startswith("scale_")][-20:]},
            "events": self.events[-50:],
        }

    async def stop(self) -> dict[str, Any]:
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
        for task in list(self._background):
            task.cancel()
        peers = self._all()
        results = await asyncio.gather(*(p.call("stop") for p in peers), return_exceptions=True)
        for peer in peers:
            peer.kill()
        for peer in peers:
            await _name_free(peer.name, self.config.namespace)
        tracing.flush()
        return {f"{p.partition}/{p.slot}": (r if not isinstance(r, BaseException)
                                            else {"error": repr(r)})
                for p, r in zip(peers, results)}


async def _name_free(name: str, namespace: str, timeout: float = 30.0) -> None:
    from cluster.app import name_taken

    deadline = time.monotonic() + timeout
    while name_taken(name, namespace) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def node_cpus() -> dict[str, float]:
    """CPUs of every node that can host partition actors."""
    import ray

    return {n["NodeID"]: n["Resources"]["CPU"] for n in ray.nodes()
            if n["Alive"] and n.get("Resources", {}).get("CPU", 0) > 0}


def ray_draining_nodes() -> set[str]:
    """Nodes Ray itself is draining: a preemption notice, the autoscaler terminating
    it, `ray drain-node`. What Ray Serve's controller watches to move replicas."""
    try:
        from ray._private.worker import global_worker

        return set(global_worker.gcs_client.get_draining_nodes(timeout=5))
    except Exception:  # noqa: BLE001 - an older Ray or a slow GCS: nothing is draining
        return set()


def alive_nodes() -> set[str]:
    """Nodes that can host partition actors: alive and with CPU to give."""
    return set(node_cpus())


async def prepare_topics(spec: AppSpec) -> int:
    """Creates the app's topics and decides its partition count, or refuses with both counts.

    Sources define the count (tables are co-partitioned with them); changelog
    and repartition topics are created with it, and an existing one with
    another count is refused rather than silently misrouted.
    """
    from actors.kafka_io import TopicWant, describe, ensure_topics
    from cluster.errors import ConfigError, PartitionCountMismatch

    config = spec.config
    bootstrap = config.bootstrap
    sources = {a.topic.name: a.topic for a in spec.agents}
    have = await describe(bootstrap, list(sources), config.broker_timeout)
    counts: dict[str, int] = {}
    for name, topic in sources.items():
        if name in have:
            if topic.partitions is not None and topic.partitions != have[name]:
                raise PartitionCountMismatch(
                    f"source topic {name!r} has {have[name]} partitions but was declared with "
                    f"partitions={topic.partitions}: fix the declaration or recreate the topic")
            counts[name] = have[name]
        elif topic.partitions is not None:
            counts[name] = topic.partitions
        else:
            raise ConfigError(f"source topic {name!r} does not exist: create it or declare "
                              f"cluster.topic({name!r}, partitions=N)")
    distinct = sorted(set(counts.values()))
    if len(distinct) > 1:
        raise PartitionCountMismatch(
            "source topics disagree on partition count ("
            + ", ".join(f"{n!r}: {c}" for n, c in counts.items())
            + "): every table is co-partitioned with every source, so they must match")
    n = distinct[0] if distinct else max([t.partitions or 0 for t in spec.tables.values()] + [1])
    for table in spec.tables.values():
        if table.partitions is not None and table.partitions != n:
            raise PartitionCountMismatch(
                f"table {table.name!r} declares partitions={table.partitions} but its source "
                f"topics have {n}: tables are co-partitioned with their sources")
    wants = [TopicWant(name, counts[name], sources[name].config, "source") for name in sources]
    # topics agents send to: created with their declared partition count, or must exist
    wants += [TopicWant(t.name, t.partitions, t.config, "output") for t in spec.topics.values()
              if t.name not in sources]
    wants += [TopicWant(t.changelog, n, t.topic_configs(), "changelog")
              for t in spec.tables.values()]
    wants += [TopicWant(rp, n, {}, "repartition") for a in spec.agents
              if (rp := a.repartition_topic(config.app)) is not None]
    if config.dead_letter_topic:
        wants.append(TopicWant(config.dead_letter_topic, None if config.dead_letter_topic in have
                               else 1, {}, "dead-letter"))
    await ensure_topics(bootstrap, wants, config.broker_timeout)
    await check_table_topic_configs(spec)
    return n


def _same_config(have: str | None, want: str) -> bool:
    """The broker echoes numbers its own way (0.0001 comes back as 1.0E-4)."""
    if have == want:
        return True
    try:
        return have is not None and float(have) == float(want)
    except ValueError:
        return False


async def check_table_topic_configs(spec: AppSpec) -> None:
    """An existing changelog whose configs differ from `extra_topic_configs` is reported
    (Faust silently ignores the difference)."""
    from actors.kafka_io import topic_configs
    from cluster.errors import ConfigError

    for table in spec.tables.values():
        if not table.extra_topic_configs:
            continue
        have = await topic_configs(spec.config.bootstrap, table.changelog,
                                   spec.config.broker_timeout)
        wrong = {k: (have.get(k), v) for k, v in table.extra_topic_configs.items()
                 if not _same_config(have.get(k), v)}
        if wrong:
            details = ", ".join(f"{k}={h!r} (table wants {w!r})" for k, (h, w) in wrong.items())
            raise ConfigError(
                f"changelog topic {table.changelog!r} of table {table.name!r} exists with "
                f"different configs: {details}. Alter the topic (kafka-configs --alter) or change "
                f"extra_topic_configs.")
