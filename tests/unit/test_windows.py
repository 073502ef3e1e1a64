"""Window arithmetic: Faust's pinned values plus property-based invariants."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.windows import HoppingWindow, SlidingWindow, TumblingWindow, to_seconds

EPS = 1e-6  # comparisons at epoch scale, where a float ulp is ~2e-7

# --- values pinned against Faust -------------------------------------------------------


def test_hopping_ranges_match_faust() -> None:
    assert HoppingWindow(10, 5).ranges(12) == [(5.0, 14.9), (10.0, 19.9)]


def test_tumbling_ranges_chosen_by_start_not_inclusive_end() -> None:
    assert TumblingWindow(10).ranges(19.95) == [(10.0, 19.9)]


def test_sliding_delta_matches_faust() -> None:
    assert SlidingWindow(2, 3, 10).delta(10, 4) == (4.0, 9.0)


def test_hopping_current_is_latest_range() -> None:
    assert HoppingWindow(10, 5).current(12) == (10.0, 19.9)


def test_hopping_earliest_is_first_range() -> None:
    assert HoppingWindow(10, 5).earliest(12) == (5.0, 14.9)


def test_tumbling_delta_matches_faust() -> None:
    assert TumblingWindow(10).delta(25, 10) == (10.0, 19.9)


def test_end_bound_is_rounded_exactly() -> None:
    ((start, end),) = TumblingWindow(10).ranges(15)
    assert repr(end) == "19.9"
    assert HoppingWindow(0.3, 0.1).current(0.1) == (0.1, 0.3)


def test_bounds_are_floats_even_for_int_inputs() -> None:
    start, end = TumblingWindow(10).current(12)
    assert type(start) is float and type(end) is float


# --- sub-second windows (Faust's int() arithmetic cannot do these) ---------------------


def test_sub_second_hopping() -> None:
    assert HoppingWindow(1.0, 0.25).ranges(0.3) == [
        (-0.5, 0.4),
        (-0.25, 0.65),
        (0.0, 0.9),
        (0.25, 1.15),
    ]


def test_decimal_step_boundaries_are_exact() -> None:
    # 0.3 // 0.1 == 2.0 in binary floats; the window starting at 0.3 must hold 0.3.
    w = HoppingWindow(1, 0.1)
    assert w.current(0.3) == (0.3, 1.2)
    assert w.earliest(0.3) == (-0.6, 0.3)
    assert len(w.ranges(0.3)) == 10


def test_size_not_multiple_of_step_returns_every_window() -> None:
    assert HoppingWindow(10, 3).ranges(12) == [
        (3.0, 12.9),
        (6.0, 15.9),
        (9.0, 18.9),
        (12.0, 21.9),
    ]


# --- staleness and closing --------------------------------------------------------------


def test_stale_follows_faust() -> None:
    w = TumblingWindow(10, expires=30)
    # current(100 - 30) starts at 70: events at or before 70 are stale.
    assert w.stale(70, 100)
    assert not w.stale(70.5, 100)
    assert not TumblingWindow(10).stale(0, 1e9)


def test_sliding_stale_follows_faust() -> None:
    w = SlidingWindow(2, 3, expires=10)
    assert w.stale(90, 100)
    assert not w.stale(90.5, 100)


def test_closes_at_uses_true_end_plus_expires() -> None:
    r = (10.0, 19.9)
    assert TumblingWindow(10, expires=3600).closes_at(r) == 3620.0
    assert TumblingWindow(10).closes_at(r) == 20.0
    assert not TumblingWindow(10).closed(r, 20.0)
    assert TumblingWindow(10).closed(r, 20.01)
    assert HoppingWindow(1, 0.1, expires=0.2).closes_at((0.3, 1.2)) == 1.5
    assert SlidingWindow(2, 3, 10).closes_at((4.0, 9.0)) == 19.0


# --- construction ----------------------------------------------------------------------


def test_timedelta_arguments() -> None:
    w = HoppingWindow(timedelta(minutes=1), timedelta(seconds=30), timedelta(hours=1))
    assert (w.size, w.step, w.expires) == (60.0, 30.0, 3600.0)
    assert w == HoppingWindow(60, 30, 3600)
    assert hash(w) == hash(HoppingWindow(60.0, 30.0, 3600.0))
    assert TumblingWindow(timedelta(seconds=10)).size == 10.0
    assert SlidingWindow(timedelta(seconds=2), 3, timedelta(seconds=10)).expires == 10.0


def test_falsy_expires_means_never_like_faust() -> None:
    assert TumblingWindow(10, expires=0).expires is None


def test_repr_and_equality() -> None:
    assert repr(TumblingWindow(10, 60)) == "TumblingWindow(10.0, 60.0)"
    assert TumblingWindow(10) != HoppingWindow(10, 10)
    assert SlidingWindow(2, 3, 10).size == 5.0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: HoppingWindow(0, 1), "size"),
        (lambda: HoppingWindow(10, -1), "step"),
        (lambda: HoppingWindow(5, 10), "step"),
        (lambda: TumblingWindow(10, expires=-1), "expires"),
        (lambda: TumblingWindow(float("inf")), "size"),
        (lambda: SlidingWindow(-1, 3, 10), "before"),
        (lambda: SlidingWindow(0, 0, 10), "before \\+ after"),
    ],
)
def test_invalid_arguments(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_to_seconds_rejects_non_numbers() -> None:
    with pytest.raises(TypeError, match="size"):
        to_seconds("10", "size")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_seconds(True)


# --- properties -------------------------------------------------------------------------

# Steps and timestamps are whole milliseconds, as Kafka timestamps are; timestamps reach
# epoch scale so the float tolerance is exercised too.
steps_ms = st.integers(min_value=1, max_value=100_000)
timestamps = st.integers(min_value=-(10**12), max_value=4 * 10**12).map(lambda ms: ms / 1000)


def _holds(w: HoppingWindow, r: tuple[float, float], ts: float) -> bool:
    return r[0] - EPS <= ts < r[0] + w.size - EPS


@settings(max_examples=200, deadline=None)
@given(step_ms=steps_ms, n=st.integers(min_value=1, max_value=12), ts=timestamps)
def test_hopping_multiple_invariants(step_ms: int, n: int, ts: float) -> None:
    w = HoppingWindow(step_ms * n / 1000, step_ms / 1000)
    ranges = w.ranges(ts)
    # ceil(size / step), forgiving the division's rounding (1.175 / 0.235 > 5).
    assert len(ranges) == math.ceil(w.size / w.step - 1e-9) == n
    assert all(_holds(w, r, ts) for r in ranges)
    assert ranges == sorted(ranges)
    assert w.current(ts) == max(ranges)
    assert w.earliest(ts) == min(ranges)
    for a, b in itertools.pairwise(ranges):
        assert b[0] - a[0] == pytest.approx(w.step, abs=EPS)
    for start, end in ranges:
        # Bounds are exact decimals: whole milliseconds, end 0.1 s before the true end.
        assert abs(start * 1000 - round(start * 1000)) < 1e-3
        assert end == round(start + w.size - 0.1, 9)
        assert not w.closed((start, end), ts)


@settings(max_examples=200, deadline=None)
@given(
    step_ms=steps_ms,
    whole=st.integers(min_value=1, max_value=12),
    part=st.floats(min_value=0, max_value=1, exclude_max=True),
    ts=timestamps,
)
def test_hopping_any_size_covers_exactly_the_holding_windows(
    step_ms: int, whole: int, part: float, ts: float
) -> None:
    # size = step * (whole + part): usually not a multiple of step.
    w = HoppingWindow((step_ms * whole + int(step_ms * part)) / 1000, step_ms / 1000)
    ranges = w.ranges(ts)
    assert ranges and all(_holds(w, r, ts) for r in ranges)
    first, last = ranges[0][0], ranges[-1][0]
    # The neighbours just outside the returned list do not hold ts.
    assert not (first - w.step) + w.size > ts + EPS
    assert not last + w.step <= ts - EPS
    assert w.current(ts) == ranges[-1] and w.earliest(ts) == ranges[0]


@settings(max_examples=100, deadline=None)
@given(size_ms=steps_ms, ts=timestamps, d_ms=st.integers(min_value=0, max_value=10**7))
def test_tumbling_and_delta(size_ms: int, ts: float, d_ms: int) -> None:
    w = TumblingWindow(size_ms / 1000)
    assert w.ranges(ts) == [w.current(ts)] == [w.earliest(ts)]
    assert w.delta(ts, d_ms / 1000) == w.current(ts - d_ms / 1000)


@settings(max_examples=100, deadline=None)
@given(
    size_ms=steps_ms,
    expires_ms=st.integers(min_value=1, max_value=10**7),
    ts=timestamps,
    ahead_ms=st.integers(min_value=0, max_value=10**7),
)
def test_never_stale_at_or_after_latest(
    size_ms: int, expires_ms: int, ts: float, ahead_ms: int
) -> None:
    w = TumblingWindow(size_ms / 1000, expires=expires_ms / 1000)
    latest = ts - ahead_ms / 1000
    assert not w.stale(ts, latest)
    r = w.current(ts)
    assert w.closes_at(r) == pytest.approx(r[0] + w.size + w.expires, abs=EPS)


@settings(max_examples=100, deadline=None)
@given(
    before_ms=st.integers(min_value=0, max_value=10**6),
    after_ms=st.integers(min_value=1, max_value=10**6),
    ts=timestamps,
)
def test_sliding_invariants(before_ms: int, after_ms: int, ts: float) -> None:
    w = SlidingWindow(before_ms / 1000, after_ms / 1000, 60)
    ((start, end),) = w.ranges(ts)
    assert start - EPS <= ts <= end + EPS
    assert w.current(ts) == w.earliest(ts) == (start, end)
    assert end - start == pytest.approx(w.size, abs=EPS)
