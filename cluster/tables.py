"""Table handles: what users type, with Faust's semantics.

A handle holds only the table's spec. Where it runs decides where it goes:
inside a partition actor (an agent's code) it reads and writes that
partition's local state directly, with no Ray call; anywhere else (the
driver, another script, a Ray task) it reads from the actor owning the key
through the router, and refuses writes as Faust does.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from cluster import context
from cluster.codecs import FieldDescriptor
from cluster.windows import HoppingWindow, Range, SlidingWindow, TumblingWindow, Window

_MISSING = object()


class TableWriteError(RuntimeError):
    """A table was changed outside an agent, where no partition owns the write."""


@dataclass
class TableSpec:
    """Everything that defines a table; pickled to every partition actor."""

    app: str
    name: str
    default: Callable[[], Any] | None = None
    window: Window | None = None
    key_index: bool = False
    relative_to: Any = None  # None: event time; "stream", "now", a FieldDescriptor, callable, number
    value_type: Any = None
    key_type: Any = None
    store: str | None = None
    partitions: int | None = None
    changelog_topic: str | None = None
    help: str = ""
    extra_topic_configs: dict[str, str] = field(default_factory=dict)
    on_window_close: Callable[..., Any] | None = None
    close_options: dict[str, Any] = field(default_factory=dict)
    recover_callbacks: list[Callable[[], Any]] = field(default_factory=list)
    on_changelog_event: Callable[[Any], Any] | None = None
    recovery_buffer_size: int | None = None
    standby_buffer_size: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    use_partitioner: bool = False
    is_global: bool = False
    synchronize_all_active_partitions: bool = False
    observers: dict[str, list[Callable[..., Any]]] = field(default_factory=dict)

    @property
    def changelog(self) -> str:
        return self.changelog_topic or f"{self.app}-{self.name}-changelog"

    def topic_configs(self) -> dict[str, str]:
        """Compacted; windowed tables also delete what is older than their expiry."""
        configs = {"cleanup.policy": "compact"}
        if self.window is not None:
            configs["cleanup.policy"] = "compact,delete"
            if self.window.expires is not None:
                keep = self.window.size + self.window.expires
                configs["retention.ms"] = str(int((keep + 3600) * 1000))
        configs.update(self.extra_topic_configs)
        return configs


def _router(spec: TableSpec) -> Any:
    from cluster.routing import router_for

    return router_for(spec.app)


def _refuse_write(spec: TableSpec, what: str) -> TableWriteError:
    return TableWriteError(
        f"cannot {what} table {spec.name!r} outside an agent: table changes are made by "
        f"the partition actor that owns the key, inside @cluster.agent code. Read it here, "
        f"or send an event to a topic an agent consumes."
    )


class _Handle:
    """What plain and windowed handles share: spec, routing, Faust attributes."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec

    # Faust attributes
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def default(self) -> Callable[[], Any] | None:
        return self.spec.default

    @property
    def window(self) -> Window | None:
        return self.spec.window

    @property
    def partitions(self) -> int | None:
        return self.spec.partitions

    @property
    def help(self) -> str:
        return self.spec.help

    def _local(self) -> Any:
        binding = context.local()
        return None if binding is None else binding.table(self.spec.name)

    # Faust's key hooks: called on every local get/set/delete; override them in a
    # subclass, or observe them with `observe(on_get=..., on_set=..., on_del=...)`.
    def observe(self, *, on_get: Callable[[Any], Any] | None = None,
                on_set: Callable[[Any, Any], Any] | None = None,
                on_del: Callable[[Any], Any] | None = None) -> None:
        for hook, fn in (("get", on_get), ("set", on_set), ("del", on_del)):
            if fn is not None:
                self.spec.observers.setdefault(hook, []).append(fn)

    def on_key_get(self, key: Any) -> None:
        for fn in self.spec.observers.get("get", ()):
            fn(key)

    def on_key_set(self, key: Any, value: Any) -> None:
        for fn in self.spec.observers.get("set", ()):
            fn(key, value)

    def on_key_del(self, key: Any) -> None:
        for fn in self.spec.observers.get("del", ()):
            fn(key)

    @property
    def last_closed_window(self) -> Any:
        """This partition's close watermark inside an agent; {partition: watermark} outside.

        Faust keeps one per table, which skips closes on every other partition."""
        core = self._local()
        if core is not None:
            return core.last_closed_window
        return _router(self.spec).last_closed_windows(self.spec.name)

    def on_recover(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Decorator: `fn()` (sync or async) runs in the partition actor after each recovery."""
        self.spec.recover_callbacks.append(fn)
        return fn

    def on_window_close(self, fn: Callable[..., Any] | None = None, **task_options: Any) -> Any:
        """Decorator: `fn(key, value)` runs as a Ray task when a window closes."""

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            self.spec.on_window_close = f
            self.spec.close_options.update(task_options)
            return f

        return register(fn) if fn is not None else register

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.spec,))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.app}/{self.spec.name}>"


class Table(_Handle):
    """A plain key/value table (Faust `app.Table`)."""

    def _missing(self, key: Any) -> Any:
        if self.spec.default is None:
            raise KeyError(key)
        return self.spec.default()

    def __getitem__(self, key: Any) -> Any:
        core = self._local()
        if core is not None:
            if self.spec.observers:
                self.on_key_get(key)
            value = core.get(key, _MISSING)
        else:
            value = _router(self.spec).get(self.spec.name, key, _MISSING)
        return self._missing(key) if value is _MISSING else value

    def __setitem__(self, key: Any, value: Any) -> None:
        core = self._local()
        if core is None:
            if self.spec.use_partitioner:  # routed to the key's owner, durable on return
                return _router(self.spec).write(self.spec.name, key, value, delete=False)
            raise _refuse_write(self.spec, "set a key of")
        if self.spec.observers:
            self.on_key_set(key, value)
        core.set(key, value)

    def __delitem__(self, key: Any) -> None:
        core = self._local()
        if core is None:
            if self.spec.use_partitioner:
                if not _router(self.spec).write(self.spec.name, key, None, delete=True):
                    raise KeyError(key)
                return
            raise _refuse_write(self.spec, "delete a key of")
        if self.spec.observers:
            self.on_key_del(key)
        if not core.delete(key):
            raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def get(self, key: Any, default: Any = None) -> Any:
        core = self._local()
        if core is not None:
            return core.get(key, default)
        return _router(self.spec).get(self.spec.name, key, default)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        del self[key]
        return value

    def update(self, other: Any = (), **kwargs: Any) -> None:
        items = other.items() if hasattr(other, "items") else other
        for key, value in list(items) + list(kwargs.items()):
            self[key] = value

    def clear(self) -> None:
        core = self._local()
        if core is None:
            raise _refuse_write(self.spec, "clear")
        core.clear()

    def items(self) -> Iterator[tuple[Any, Any]]:
        core = self._local()
        if core is not None:
            return iter(list(core.items()))
        return iter(_router(self.spec).items(self.spec.name))

    def keys(self) -> Iterator[Any]:
        return (k for k, _ in self.items())

    def values(self) -> Iterator[Any]:
        return (v for _, v in self.items())

    def __iter__(self) -> Iterator[Any]:
        return self.keys()

    def __len__(self) -> int:
        core = self._local()
        if core is not None:
            return len(core)
        return _router(self.spec).length(self.spec.name)

    # windowing (Faust: Table.tumbling/hopping/sliding/using_window)
    def using_window(self, window: Window, *, key_index: bool = False) -> WindowWrapper:
        self.spec.window = window
        self.spec.key_index = key_index
        return WindowWrapper(self.spec)

    def tumbling(self, size: Any, expires: Any = None, key_index: bool = False) -> WindowWrapper:
        return self.using_window(TumblingWindow(size, expires), key_index=key_index)

    def hopping(self, size: Any, step: Any, expires: Any = None,
                key_index: bool = False) -> WindowWrapper:
        return self.using_window(HoppingWindow(size, step, expires), key_index=key_index)

    def sliding(self, before: Any, after: Any, expires: Any, key_index: bool = False) -> WindowWrapper:
        return self.using_window(SlidingWindow(before, after, expires), key_index=key_index)

    def as_ansitable(self, title: str = "{table.name}", key: str = "Key", value: str = "Value",
                     sort: bool = False, sortkey: Callable[[Any], Any] = operator.itemgetter(0),
                     **_: Any) -> str:
        from cluster.ansitable import render

        rows = list(self.items())
        if sort:
            rows.sort(key=sortkey)
        return render(title.format(table=self), [key, value], rows)


class WindowWrapper(_Handle):
    """A windowed table: `table[key]` is a WindowSet (Faust `WindowWrapper`)."""

    ValueType: type = None  # type: ignore[assignment]  # set to WindowSet below

    def __init__(self, spec: TableSpec) -> None:
        if spec.window is None:
            raise ValueError(f"table {spec.name!r} has no window: use .tumbling()/.hopping()")
        super().__init__(spec)

    @property
    def table(self) -> Table:
        return Table(self.spec)

    @property
    def key_index(self) -> bool:
        return self.spec.key_index

    @property
    def key_index_table(self) -> dict[Any, set[Range]]:
        """Each key with its open windows (Faust keeps this as a second table)."""
        self._require_key_index()
        binding = context.local()
        if binding is not None:
            return {k: set(v) for k, v in binding.table(self.spec.name).key_index().items()}
        out: dict[Any, set[Range]] = {}
        for (k, r), _v in _router(self.spec).items(self.spec.name):
            out.setdefault(k, set()).add(r)
        return out

    def on_set_key(self, key: Any, value: Any) -> None:
        """Faust hook (key index upkeep); here the index is kept by the table core."""

    def on_del_key(self, key: Any) -> None:
        """Faust hook (key index upkeep); here the index is kept by the table core."""

    @property
    def last_closed_window(self) -> Any:
        return Table(self.spec).last_closed_window

    # relativity (Faust)
    def clone(self, relative_to: Any) -> WindowWrapper:
        return WindowWrapper(replace(self.spec, relative_to=relative_to))

    def relative_to(self, ts: Any) -> WindowWrapper:
        return self.clone(ts)

    def relative_to_now(self) -> WindowWrapper:
        return self.clone("now")

    def relative_to_stream(self) -> WindowWrapper:
        return self.clone("stream")

    def relative_to_field(self, field: FieldDescriptor) -> WindowWrapper:
        return self.clone(field)

    def get_timestamp(self, event: context.Event | None = None) -> float:
        """The timestamp `.value()` uses, by the handle's relativity (Faust semantics)."""
        binding = context.local()
        rel = self.spec.relative_to
        if event is None and binding is not None:
            event = binding.event
        if rel == "now":
            return time.time()
        if rel == "stream":
            if binding is None:
                raise LookupError("relative_to_stream() timestamps exist only inside an agent")
            return binding.stream_time
        if rel is None:
            if event is None:
                return time.time()
            return event.timestamp
        if isinstance(rel, FieldDescriptor):
            if event is None:
                raise LookupError(f"relative_to_field({rel.name}) needs the current event")
            return _seconds(rel.getattr(event.value))
        if callable(rel):
            return _seconds(rel(event))
        return _seconds(rel)

    get_relative_timestamp = get_timestamp

    def __getitem__(self, key: Any) -> WindowSet | RemoteWindowSet:
        binding = context.local()
        if binding is None:
            return RemoteWindowSet(key, self)
        return WindowSet(key, self, binding.table(self.spec.name), binding)

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(value, WindowSet):
            return  # `table[k] += 1` already applied the operator to every range
        binding = context.local()
        if binding is None:
            raise _refuse_write(self.spec, "set a key of")
        WindowSet(key, self, binding.table(self.spec.name), binding).set(value)

    def __delitem__(self, key: Any) -> None:
        binding = context.local()
        if binding is None:
            raise _refuse_write(self.spec, "delete a key of")
        core = binding.table(self.spec.name)
        for r in self.spec.window.ranges(self.get_timestamp()):  # type: ignore[union-attr]
            core.delete((key, r))

    # key index views (Faust: keys()/items()/values() need key_index=True)
    def _require_key_index(self) -> None:
        if not self.spec.key_index:
            raise TypeError(
                f"windowed table {self.spec.name!r} was created without key_index=True; "
                f"keys()/items()/values() need it"
            )

    def keys(self) -> Iterator[Any]:
        self._require_key_index()
        binding = context.local()
        if binding is not None:
            return iter(list(binding.table(self.spec.name).key_index()))
        return iter(sorted({k for (k, _r), _v in _router(self.spec).items(self.spec.name)},
                           key=repr))

    def items(self, event: context.Event | None = None) -> Iterator[tuple[Any, Any]]:
        return ((k, self[k]) for k in self.keys())

    def values(self, event: context.Event | None = None) -> Iterator[Any]:
        return (self[k] for k in self.keys())

    def __iter__(self) -> Iterator[Any]:
        return self.keys()

    def __contains__(self, key: Any) -> bool:
        self._require_key_index()
        return key in set(self.keys())

    def as_ansitable(self, title: str = "{table.name}", key: str = "Key",
                     value: str = "Value", sort: bool = True, **_: Any) -> str:
        """Every (key, window) with its value: windows are part of the key, as in the changelog."""
        from cluster.ansitable import render

        binding = context.local()
        rows: Iterable[tuple[Any, Any]]
        if binding is not None:
            rows = list(binding.table(self.spec.name).items())
        else:
            rows = _router(self.spec).items(self.spec.name)
        shown = [(k, _window_label(r), v) for (k, r), v in rows]
        if sort:
            shown.sort(key=lambda row: (repr(row[0]), row[1]))
        return render(title.format(table=self), [key, "Window", value], shown)


def _window_label(r: Range) -> str:
    """Epoch windows as UTC clock times, small ones (tests, offsets) as numbers."""
    if r[0] > 1e8:
        from datetime import datetime, timezone

        start, end = (datetime.fromtimestamp(x, tz=timezone.utc) for x in r)
        return f"{start:%Y-%m-%d %H:%M:%S.%f}"[:-5] + f" – {end:%H:%M:%S.%f}"[:-5]
    return f"[{r[0]:g}, {r[1]:g}]"


def _seconds(value: Any) -> float:
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)


class WindowSet:
    """`table[key]` inside an agent: one key across its windows (Faust WindowSet)."""

    __slots__ = ("key", "wrapper", "core", "binding", "event")

    def __init__(self, key: Any, wrapper: WindowWrapper, core: Any,
                 binding: context.PartitionBinding) -> None:
        self.key = key
        self.wrapper = wrapper
        self.core = core
        self.binding = binding
        self.event = binding.event

    def _default(self) -> Any:
        default = self.wrapper.spec.default
        return None if default is None else default()

    def _at(self, r: Range) -> Any:
        value = self.core.get((self.key, r), _MISSING)
        return self._default() if value is _MISSING else value

    def _ranges(self) -> list[Range]:
        return self.wrapper.spec.window.ranges(self.wrapper.get_timestamp(self.event))  # type: ignore[union-attr]

    def apply(self, op: Callable[[Any, Any], Any], value: Any) -> WindowSet:
        """Applies `op` to every range holding the event's timestamp; late ranges are dropped."""
        core, key = self.core, self.key
        for r in self._ranges():
            if core.is_late(r):
                core.count_late()
                continue
            current = core.get((key, r), _MISSING)
            core.set((key, r), op(self._default() if current is _MISSING else current, value))
        return self

    def set(self, value: Any) -> None:
        self.apply(lambda _old, new: new, value)

    # reads
    def value(self, event: context.Event | None = None) -> Any:
        window = self.wrapper.spec.window
        return self._at(window.current(self.wrapper.get_timestamp(event or self.event)))  # type: ignore[union-attr]

    def current(self, event: context.Event | None = None) -> Any:
        ev = event or self.event
        ts = ev.timestamp if ev is not None else self.binding.stream_time
        return self._at(self.wrapper.spec.window.current(ts))  # type: ignore[union-attr]

    def now(self) -> Any:
        return self._at(self.wrapper.spec.window.current(self.binding.stream_time))  # type: ignore[union-attr]

    def delta(self, d: Any, event: context.Event | None = None) -> Any:
        window = self.wrapper.spec.window
        return self._at(window.delta(self.wrapper.get_timestamp(event or self.event), d))  # type: ignore[union-attr]

    def __getitem__(self, w: Range) -> Any:
        return self._at((float(w[0]), float(w[1])))

    def __setitem__(self, w: Range, value: Any) -> None:
        self.core.set((self.key, (float(w[0]), float(w[1]))), value)

    def __delitem__(self, w: Range) -> None:
        self.core.delete((self.key, (float(w[0]), float(w[1]))))

    def __repr__(self) -> str:
        return f"<WindowSet {self.wrapper.name}[{self.key!r}]: {self.value()!r}>"


def _inplace(op: Callable[[Any, Any], Any]) -> Callable[[WindowSet, Any], WindowSet]:
    def method(self: WindowSet, other: Any) -> WindowSet:
        return self.apply(op, other)

    return method


for _name, _op in {
    "iadd": operator.add, "isub": operator.sub, "imul": operator.mul,
    "itruediv": operator.truediv, "ifloordiv": operator.floordiv, "imod": operator.mod,
    "ipow": operator.pow, "ilshift": operator.lshift, "irshift": operator.rshift,
    "iand": operator.and_, "ixor": operator.xor, "ior": operator.or_,
}.items():
    setattr(WindowSet, f"__{_name}__", _inplace(_op))

WindowWrapper.ValueType = WindowSet


class RemoteWindowSet:
    """`table[key]` outside an agent: reads from the owning actor.

    There is no current event here: `.now()` is the wall clock (Faust's
    docs), `.current()` and `.value()` use the owner's stream time (the latest
    event time it has seen) unless the handle is relative to now.
    """

    def __init__(self, key: Any, wrapper: WindowWrapper) -> None:
        self.key = key
        self.wrapper = wrapper

    def _read(self, how: str, arg: Any = None) -> Any:
        value = _router(self.wrapper.spec).window_read(self.wrapper.spec.name, self.key, how, arg)
        if value is _MISSING:
            default = self.wrapper.spec.default
            return None if default is None else default()
        return value

    def now(self) -> Any:
        return self._read("now", time.time())

    def current(self) -> Any:
        return self._read("current")

    def value(self) -> Any:
        if self.wrapper.spec.relative_to == "now":
            return self.now()
        return self._read("current")

    def delta(self, d: Any) -> Any:
        base = time.time() if self.wrapper.spec.relative_to == "now" else None
        return self._read("delta", (base, d))

    def __getitem__(self, w: Range) -> Any:
        return self._read("range", (float(w[0]), float(w[1])))

    def _refuse(self, *_: Any) -> Any:
        raise _refuse_write(self.wrapper.spec, "change a window of")

    __iadd__ = __isub__ = __imul__ = __itruediv__ = __ifloordiv__ = __imod__ = _refuse
    __ipow__ = __ilshift__ = __irshift__ = __iand__ = __ixor__ = __ior__ = _refuse
    __setitem__ = _refuse

    def __repr__(self) -> str:
        return f"<RemoteWindowSet {self.wrapper.name}[{self.key!r}]>"
