"""The app: what a pipeline script declares, and starting it on Ray.

`cluster.init(...)` makes the default app that the module-level functions
(`cluster.topic`, `cluster.table`, `cluster.agent`, `cluster.run`) use, as a
Faust script uses its one `app`. `Cluster(...)` makes more than one.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from cluster.agents import Agent
from cluster.config import AppConfig, AppSpec
from cluster.tables import Table, TableSpec, WindowWrapper
from cluster.topics import Topic
from cluster.windows import Window

log = logging.getLogger("raytables")


def _cloudpickle() -> Any:
    """Ray's own cloudpickle, so model classes keep their identity across Ray calls.
    Imported late: importing ray reads environment settings (see cluster.localdev)."""
    from ray import cloudpickle

    return cloudpickle


def _pickle_by_value(obj: Any) -> None:
    """Ship code from the user's own modules by value, so actors need not import them."""
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    if module is None or module.__name__ == "__main__":
        return
    path = getattr(module, "__file__", "") or ""
    if "site-packages" in path or module.__name__.split(".")[0] in ("cluster", "actors"):
        return
    _cloudpickle().register_pickle_by_value(module)


def ensure_ray(address: str | None = None) -> None:
    """Connects to the cluster `ray job submit` / RAY_ADDRESS names, else starts a local Ray."""
    import os

    import ray

    from cluster import localdev

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, namespace="raytables", log_to_driver=True)
    else:
        localdev.init_local_ray()


class Cluster:
    """One raytables app: its topics, tables and agents, and its lifecycle on Ray."""

    def __init__(self, app: str, broker: str = "kafka://127.0.0.1:9092", **options: Any) -> None:
        self.config = AppConfig(app=app, broker=broker, **options)
        self.topics: dict[str, Topic] = {}
        self.tables: dict[str, TableSpec] = {}
        self.agents: list[Agent] = []
        self._coordinator: Any = None
        self._stopped = threading.Event()

    # -- declarations ---------------------------------------------------------------
    def topic(self, name: str, *, value_type: Any = None, key_type: Any = None,
              partitions: int | None = None, config: dict[str, str] | None = None) -> Topic:
        topic = Topic(name, value_type, key_type, partitions, dict(config or {}),
                      app=self.config.app, broker=self.config.bootstrap)
        self.topics[name] = topic
        return topic

    def table(self, name: str, default: Callable[[], Any] | None = None, *,
              store: str | None = None, schema: Any = None, key_type: Any = None,
              value_type: Any = None, partitions: int | None = None,
              window: Window | None = None, changelog_topic: str | Topic | None = None,
              help: str = "", on_recover: Callable[[], Any] | None = None,
              on_changelog_event: Callable[[Any], Any] | None = None,
              recovery_buffer_size: int | None = None, standby_buffer_size: int | None = None,
              extra_topic_configs: dict[str, Any] | None = None,
              recover_callbacks: list[Callable[[], Any]] | None = None,
              options: dict[str, Any] | None = None, use_partitioner: bool = False,
              on_window_close: Callable[..., Any] | None = None, is_global: bool = False,
              synchronize_all_active_partitions: bool = False, key_index: bool = False,
              **unknown: Any) -> Any:
        """Faust's `app.Table(name, default=...)` with every Faust parameter (see docs/api.md);
        `.tumbling(...)`, `.hopping(...)`, `.sliding(...)` make it windowed."""
        if unknown:
            raise TypeError(f"cluster.table({name!r}): unknown arguments {sorted(unknown)}")
        if name in self.tables:
            raise ValueError(f"table {name!r} is declared twice in app {self.config.app!r}")
        if schema is not None:  # Faust's Schema: key/value types in one object
            key_type = key_type if key_type is not None else getattr(schema, "key_type", None)
            value_type = value_type if value_type is not None else getattr(schema, "value_type", None)
        if isinstance(changelog_topic, Topic):
            changelog_topic = changelog_topic.name
        if is_global and window is not None:
            raise ValueError(f"table {name!r}: a global table cannot be windowed")
        spec = TableSpec(
            app=self.config.app, name=name, default=default, window=window, key_index=key_index,
            value_type=value_type, key_type=key_type, store=store, partitions=partitions,
            changelog_topic=changelog_topic, help=help,
            extra_topic_configs={k: str(v) for k, v in (extra_topic_configs or {}).items()},
            on_window_close=on_window_close, options=dict(options or {}),
            recover_callbacks=[*(recover_callbacks or []), *([on_recover] if on_recover else [])],
            on_changelog_event=on_changelog_event, recovery_buffer_size=recovery_buffer_size,
            standby_buffer_size=standby_buffer_size, use_partitioner=use_partitioner,
            is_global=is_global or synchronize_all_active_partitions,
            synchronize_all_active_partitions=synchronize_all_active_partitions)
        self.tables[name] = spec
        return WindowWrapper(spec) if window is not None else Table(spec)

    Table = table

    def agent(self, topic: Topic | str, *, name: str | None = None) -> Callable[..., Agent]:
        """`@app.agent(topic)`: runs on every partition of `topic`, in its partition actor."""
        if isinstance(topic, str):
            topic = self.topics.get(topic) or self.topic(topic)

        def register(fn: Callable[..., Any]) -> Agent:
            agent = Agent(fn, topic, name or fn.__name__)
            if any(a.name == agent.name for a in self.agents):
                raise ValueError(f"agent {agent.name!r} is declared twice")
            self.agents.append(agent)
            return agent

        return register

    def __getitem__(self, name: str) -> Any:
        """The handle of a declared table: `cluster.connect(app="x")["totals"]["/home"]`."""
        try:
            return handle(self, name)
        except KeyError:
            raise KeyError(f"app {self.config.app!r} has no table {name!r}; it has "
                           f"{sorted(self.tables)}") from None

    # -- lifecycle ------------------------------------------------------------------
    def spec(self) -> AppSpec:
        for agent in self.agents:
            agent.probe()
            _pickle_by_value(agent.fn)
        for table in self.tables.values():
            for fn in (table.on_window_close, table.on_changelog_event, *table.recover_callbacks):
                if fn is not None:
                    _pickle_by_value(fn)
        return AppSpec(self.config, 0, dict(self.topics), dict(self.tables), list(self.agents))

    def start(self, ray_address: str | None = None) -> None:
        """Returns once every partition has recovered and is consuming."""
        import ray

        from actors.remote import create_coordinator
        from cluster import tracing

        ensure_ray(ray_address)
        tracing.configure(self.config.tracing, self.config.app, "driver")
        spec_bytes = _cloudpickle().dumps(self.spec())
        coordinator = create_coordinator(self.config, spec_bytes)
        try:
            started = coordinator.start.remote()
            show_recovery_progress(coordinator, started, self.config.start_timeout + 30)
            assignment = ray.get(started, timeout=self.config.start_timeout + 30)
        except BaseException:
            ray.kill(coordinator)
            _wait_name_free(self.config.coordinator_name, self.config.namespace)
            raise
        self._coordinator = coordinator
        log.info("app %s serving %d partitions", self.config.app, assignment["partitions"])

    @property
    def coordinator(self) -> Any:
        if self._coordinator is None:
            from cluster.routing import router_for

            self._coordinator = router_for(self.config.app, self.config.namespace).coordinator()
        return self._coordinator

    def stats(self) -> dict[str, Any]:
        import ray

        return ray.get(self.coordinator.stats.remote(), timeout=60)

    def owner(self, partition: int) -> Any:
        """The actor handle serving `partition` now (tests, tools)."""
        import ray

        return ray.get(self.coordinator.assignment.remote(), timeout=60)["owners"][partition]

    def move(self, partition: int, node_id: str | None = None) -> dict[str, Any]:
        """Moves a partition to another node (or a fresh actor); returns the pause it took."""
        import ray

        return ray.get(self.coordinator.move.remote(partition, node_id),
                       timeout=self.config.start_timeout + 60)

    def drain(self, node_id: str, wait: bool = True, timeout: float = 300) -> dict[str, Any]:
        """Moves every replica off a Ray node (live moves for actives, standbys restarted
        elsewhere) and keeps new ones off it until `undrain(node_id)`: before taking a
        node down for maintenance or handing it back."""
        import ray

        return ray.get(self.coordinator.drain.remote(node_id, wait, timeout), timeout=timeout + 60)

    def undrain(self, node_id: str) -> None:
        import ray

        ray.get(self.coordinator.undrain.remote(node_id), timeout=60)

    def replicas(self) -> list[dict[str, Any]]:
        """Every active and standby replica: partition, slot, role, node, lag."""
        import ray

        return ray.get(self.coordinator.replicas.remote(), timeout=60)

    def progress(self) -> list[dict[str, Any]]:
        import ray

        return ray.get(self.coordinator.progress.remote(), timeout=60)

    def wait_idle(self, timeout: float = 120.0, settle_rounds: int = 2) -> None:
        """Waits until every source event is processed and committed (lag zero twice in a row)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        last: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            last = self.progress()
            errors = [p for p in last if p.get("error")]
            if errors:
                raise RuntimeError(f"partition failed while waiting: {errors}")
            if all(p["total_lag"] == 0 and p["in_flight_closes"] == 0 for p in last):
                quiet += 1
                if quiet >= settle_rounds:
                    return
            else:
                quiet = 0
            time.sleep(0.1)
        raise TimeoutError(f"app {self.config.app!r} still has lag after {timeout}s: "
                           f"{[(p['partition'], p['lag']) for p in last if p['total_lag']]}")

    def stop(self) -> None:
        """Drains the batch in flight, flushes changelogs, commits offsets, stops every actor."""
        import ray

        if self._coordinator is None:
            return
        try:
            ray.get(self._coordinator.stop.remote(), timeout=120)
        finally:
            ray.kill(self._coordinator)
            self._coordinator = None
            _wait_name_free(self.config.coordinator_name, self.config.namespace)
            self._stopped.set()

    def run(self) -> None:
        """Start, then serve until SIGINT/SIGTERM (or the job is stopped), then stop."""
        self.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stopped.set())
        try:
            while not self._stopped.wait(1.0):
                pass
        finally:
            self.stop()


def name_taken(name: str, namespace: str) -> bool:
    """A killed named actor keeps its name for a moment; the next start needs it free."""
    import ray

    try:
        ray.get_actor(name, namespace=namespace)
    except ValueError:
        return False
    return True


def _wait_name_free(name: str, namespace: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while name_taken(name, namespace) and time.monotonic() < deadline:
        time.sleep(0.05)


def show_recovery_progress(coordinator: Any, started: Any, timeout: float) -> None:
    """A console progress bar while partitions replay their changelogs; never a silent wait."""
    import ray
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    deadline = time.monotonic() + timeout
    progress = None
    task = None
    try:
        while time.monotonic() < deadline:
            ready, _ = ray.wait([started], timeout=0.5)
            if ready:
                return
            try:
                status = ray.get(coordinator.recovery_progress.remote(), timeout=5)
            except Exception:  # noqa: BLE001 - progress is best effort
                continue
            total = sum(s.get("total", 0) for s in status)
            done = sum(s.get("done", 0) for s in status)
            if total and progress is None:
                progress = Progress(TextColumn("recovering tables"), BarColumn(),
                                    TextColumn("{task.completed:,.0f}/{task.total:,.0f} records"),
                                    TimeRemainingColumn(), transient=True)
                progress.start()
                task = progress.add_task("recovery", total=total)
            if progress is not None and task is not None:
                progress.update(task, completed=done, total=max(total, done))
    finally:
        if progress is not None:
            progress.stop()


def connect(app: str, *, namespace: str = "raytables", address: str | None = None) -> Cluster:
    """Attach to a running app from another script: its tables, read through the owners."""
    import ray

    from cluster.routing import router_for

    ensure_ray(address or "auto")
    coordinator = router_for(app, namespace).coordinator()
    spec: AppSpec = _cloudpickle().loads(ray.get(coordinator.spec.remote(), timeout=60))
    client = Cluster.__new__(Cluster)
    client.config = spec.config
    client.topics = spec.topics
    client.tables = spec.tables
    client.agents = []
    client._coordinator = coordinator
    client._stopped = threading.Event()
    return client


def handle(cluster: Cluster, name: str) -> Any:
    """The handle of a declared table (for scripts that connected)."""
    spec = cluster.tables[name]
    return WindowWrapper(spec) if spec.window is not None else Table(spec)
