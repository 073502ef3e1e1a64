"""Window arithmetic: which windows a timestamp falls in, and when they close.

Pure functions of numbers, no I/O, so the table core, the partition actors and
the tests share one definition of "window" and it can be checked in
milliseconds. The arithmetic follows Faust's ``faust/windows.py`` so that
changelog keys (``[key, [start, end]]``) and the values of ``.current()`` /
``.delta()`` match what a Faust user sees:

* a hopping/tumbling range is ``(start, start + size - 0.1)``: Faust's
  inclusive end. Which ranges hold a timestamp is decided by start arithmetic
  (``start <= ts < start + size``), not by that end, so ``19.95`` belongs to
  ``(10.0, 19.9)``;
* a sliding range is ``(ts - before, ts + after)``.

Where we differ from Faust, on purpose:

* sub-second sizes and steps work (Faust uses ``int()`` and ``range()``).
  Starts are integer multiples of ``step`` and every bound is rounded to 9
  decimals, so decimal inputs give exact bounds (``0.3``, not
  ``0.30000000000000004``) and equal windows always encode to equal keys. A
  timestamp within a nanosecond (or a few float ulps at epoch scale) of a
  boundary counts as on it;
* when ``size`` is not a multiple of ``step``, ``ranges()`` returns every
  window holding the timestamp (Faust misses the earliest ones). When it is a
  multiple, both agree.
"""

from __future__ import annotations

import abc
import math
from datetime import timedelta

__all__ = [
    "Range",
    "Seconds",
    "Window",
    "HoppingWindow",
    "TumblingWindow",
    "SlidingWindow",
    "to_seconds",
]

Range = tuple[float, float]
Seconds = float | int | timedelta

#: Faust's ranges end 0.1 s before the next window starts (an inclusive end).
END_OFFSET = 0.1
#: Bounds are rounded to this many decimals so decimal inputs stay exact.
NDIGITS = 9
_ABS_TOLERANCE = 1e-9


def to_seconds(value: Seconds, name: str = "value") -> float:
    """Return ``value`` (seconds as a number, or a ``timedelta``) as float seconds.

    Windows accept both spellings, like Faust's ``want_seconds``; ``name`` makes
    the error say which argument was wrong.
    """
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be seconds (int, float or timedelta), got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def _positive(value: Seconds, name: str) -> float:
    seconds = to_seconds(value, name)
    if seconds <= 0:
        raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
    return seconds


def _expires(value: Seconds | None) -> float | None:
    """Faust treats a falsy ``expires`` as "never"; negative is a mistake."""
    if value is None:
        return None
    seconds = to_seconds(value, "expires")
    if seconds < 0:
        raise ValueError(f"expires must be >= 0 seconds or None, got {value!r}")
    return seconds or None


def _round(x: float) -> float:
    return round(x, NDIGITS)


def _floor_index(x: float, step: float) -> int:
    """``floor(x / step)``, snapping ``x`` onto a boundary it is within rounding of.

    ``0.3 // 0.1 == 2.0`` in binary floats; users mean 3. The tolerance is a
    nanosecond, widened to a few ulps of ``x`` for epoch-scale timestamps.
    """
    q = x / step
    k = round(q)
    if abs(x - k * step) <= max(_ABS_TOLERANCE, 4 * math.ulp(x)):
        return int(k)
    return math.floor(q)


class Window(abc.ABC):
    """A window type: maps a timestamp to the ranges it belongs to.

    ``expires`` (seconds or None) is how long a window stays open for late
    events after its end; it decides both ``stale()`` (Faust's rule) and
    ``closes_at()`` (when ``on_window_close`` fires).
    """

    expires: float | None
    size: float

    @abc.abstractmethod
    def ranges(self, timestamp: float) -> list[Range]:
        """All ranges holding ``timestamp``, ascending by start."""

    @abc.abstractmethod
    def current(self, timestamp: float) -> Range:
        """The latest range holding ``timestamp``."""

    @abc.abstractmethod
    def earliest(self, timestamp: float) -> Range:
        """The first range holding ``timestamp``."""

    @abc.abstractmethod
    def stale(self, timestamp: float, latest_timestamp: float) -> bool:
        """Whether an event at ``timestamp`` is too late given the stream's latest time."""

    @abc.abstractmethod
    def end(self, r: Range) -> float:
        """The true (exclusive) end of range ``r``, e.g. ``start + size``."""

    def delta(self, timestamp: float, d: Seconds) -> Range:
        """The current range ``d`` seconds before ``timestamp`` (``table[k].delta(30)``)."""
        return self.current(timestamp - to_seconds(d, "d"))

    def closes_at(self, r: Range) -> float:
        """Stream time after which range ``r`` is closed and may be emitted and deleted.

        A window closes once stream time passes ``end + expires``, with ``end``
        the true end (``start + size``, not Faust's ``start + size - 0.1``),
        so an event at ``end - 0.05`` still lands in an open window. With
        ``expires`` None the window closes as soon as stream time passes its
        end.
        """
        return _round(self.end(r) + (self.expires or 0.0))

    def closed(self, r: Range, stream_time: float) -> bool:
        """Whether range ``r`` is closed at ``stream_time`` (strictly past ``closes_at``)."""
        return stream_time > self.closes_at(r)

    @abc.abstractmethod
    def _params(self) -> tuple[float | None, ...]:
        """The constructor arguments, for equality, hashing and repr."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._params() == other._params()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._params()))

    def __repr__(self) -> str:
        args = ", ".join(repr(p) for p in self._params())
        return f"{type(self).__name__}({args})"


class HoppingWindow(Window):
    """Fixed-size windows that start every ``step`` seconds and may overlap.

    Window ``k`` covers ``[k * step, k * step + size)``. ``step`` must not
    exceed ``size`` (as in Kafka Streams): otherwise some timestamps would
    fall in no window and ``current()`` would have nothing to return.
    """

    def __init__(self, size: Seconds, step: Seconds, expires: Seconds | None = None) -> None:
        self.size = _positive(size, "size")
        self.step = _positive(step, "step")
        if self.step > self.size:
            raise ValueError(f"step ({self.step}) must be <= size ({self.size})")
        self.expires = _expires(expires)
        per_ts = self.size / self.step
        whole = round(per_ts)
        # When size is a multiple of step every timestamp is in exactly
        # ``whole`` windows, which saves a second division per event.
        self._windows_per_ts: int | None = whole if abs(per_ts - whole) < 1e-9 else None

    def _params(self) -> tuple[float | None, ...]:
        return (self.size, self.step, self.expires)

    def _range(self, index: int) -> Range:
        start = _round(index * self.step)
        return (start, _round(start + self.size - END_OFFSET))

    def _last_index(self, timestamp: float) -> int:
        return _floor_index(timestamp, self.step)

    def _first_index(self, timestamp: float, last: int) -> int:
        if self._windows_per_ts is not None:
            return last - self._windows_per_ts + 1
        # The first window with start + size > timestamp.
        return _floor_index(timestamp - self.size, self.step) + 1

    def ranges(self, timestamp: float) -> list[Range]:
        last = self._last_index(timestamp)
        first = self._first_index(timestamp, last)
        return [self._range(i) for i in range(first, last + 1)]

    def current(self, timestamp: float) -> Range:
        return self._range(self._last_index(timestamp))

    def earliest(self, timestamp: float) -> Range:
        last = self._last_index(timestamp)
        return self._range(self._first_index(timestamp, last))

    def stale(self, timestamp: float, latest_timestamp: float) -> bool:
        if not self.expires:
            return False
        return timestamp <= self.current(latest_timestamp - self.expires)[0]

    def end(self, r: Range) -> float:
        return _round(r[0] + self.size)


class TumblingWindow(HoppingWindow):
    """Fixed-size, non-overlapping, gap-less windows: a hopping window with step == size."""

    def __init__(self, size: Seconds, expires: Seconds | None = None) -> None:
        super().__init__(size, size, expires)

    def _params(self) -> tuple[float | None, ...]:
        return (self.size, self.expires)


class SlidingWindow(Window):
    """One window per event: ``(ts - before, ts + after)``.

    Used to relate events to their neighbours in time; ``size`` is
    ``before + after``. Staleness follows Faust: an event is stale once it is
    ``expires`` or more behind the latest timestamp.
    """

    def __init__(self, before: Seconds, after: Seconds, expires: Seconds | None) -> None:
        self.before = to_seconds(before, "before")
        self.after = to_seconds(after, "after")
        if self.before < 0 or self.after < 0:
            raise ValueError(f"before and after must be >= 0, got {before!r}, {after!r}")
        self.size = _round(self.before + self.after)
        if self.size <= 0:
            raise ValueError("before + after must be > 0 seconds")
        self.expires = _expires(expires)

    def _params(self) -> tuple[float | None, ...]:
        return (self.before, self.after, self.expires)

    def current(self, timestamp: float) -> Range:
        return (_round(timestamp - self.before), _round(timestamp + self.after))

    def ranges(self, timestamp: float) -> list[Range]:
        return [self.current(timestamp)]

    def earliest(self, timestamp: float) -> Range:
        return self.current(timestamp)

    def stale(self, timestamp: float, latest_timestamp: float) -> bool:
        if not self.expires:
            return False
        return timestamp <= latest_timestamp - self.expires

    def end(self, r: Range) -> float:
        return r[1]
