"""The scaling policy: hysteresis, bounds, release."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.autoscale import Autoscaler
from cluster.config import ScalePolicy

policy = ScalePolicy(high_lag=100, low_lag=10, rounds_up=3, rounds_down=5, step_cpus=2,
                     max_cpus=6)


def test_scales_out_only_after_sustained_lag_then_back_after_sustained_quiet():
    a = Autoscaler(policy)
    assert [a.observe(500) for _ in range(3)] == [None, None, 2]
    assert [a.observe(500) for _ in range(3)] == [None, None, 4]
    assert [a.observe(50) for _ in range(10)] == [None] * 10  # between the marks: hold
    assert [a.observe(0) for _ in range(5)] == [None, None, None, None, 0]
    assert a.requested_cpus == 0


def test_a_burst_does_not_flap():
    a = Autoscaler(policy)
    decisions = [a.observe(lag) for lag in [500, 500, 0, 500, 500, 0, 500, 500, 0]]
    assert decisions == [None] * 9


@given(st.lists(st.integers(0, 1000), max_size=200))
def test_requests_stay_within_bounds(lags):
    a = Autoscaler(policy)
    for lag in lags:
        decision = a.observe(lag)
        assert decision is None or 0 <= decision <= policy.max_cpus
        assert 0 <= a.requested_cpus <= policy.max_cpus
