"""The scaling policy: hysteresis, bounds, release."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.autoscale import Autoscaler, Capacity
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


def test_saturated_partitions_scale_out_even_below_the_lag_mark():
    a = Autoscaler(policy)
    # 4 partitions, each in batches the whole second: busy 1.0, lag between the marks
    decisions = [a.observe(50, busy_seconds=4.0 * t, now=float(t), partitions=4)
                 for t in range(4)]
    assert a.busy == 1.0
    assert decisions == [None, None, None, 2]


def test_busy_partitions_do_not_scale_in_though_lag_is_low():
    a = Autoscaler(policy)
    a.requested_cpus = 2
    # lag under low_lag but the partitions spend 80% of the time in batches
    decisions = [a.observe(0, busy_seconds=0.8 * t, now=float(t)) for t in range(20)]
    assert decisions == [None] * 20 and a.requested_cpus == 2
    idle = [a.observe(0, busy_seconds=16.0, now=float(t)) for t in range(20, 26)]
    assert idle[-1] == 0


def test_capacity_requests_home_plus_extra_drains_the_added_nodes_then_releases():
    c = Capacity()
    assert c.scale_out({"home": 2.0}, 2) == 4  # a target for the whole cluster, not a delta
    assert not c.ready_to_release({"home"})  # scaled out: nothing to release
    assert c.scale_out({"home": 2.0, "new1": 2.0}, 4) == 6  # home measured once
    assert c.scale_in({"home", "new1", "new2"}) == {"new1", "new2"}
    assert {"home", "new1", "new2"} - c.draining == {"home"}
    assert not c.ready_to_release({"home", "new2"})  # a replica still holds new2
    assert c.ready_to_release({"home"})
    c.release()
    assert not c.ready_to_release({"home"})
    c.forget_gone({"home", "new2"})
    assert c.draining == {"new2"} and c.home == {"home"}
    c.forget_gone({"home"})
    assert c.home is None and not c.draining  # the next scale-out measures afresh


def test_scaling_out_again_while_draining_keeps_the_nodes():
    c = Capacity()
    c.scale_out({"home": 2.0}, 2)
    c.scale_in({"home", "new1"})
    assert c.scale_out({"home": 2.0, "new1": 2.0}, 2) == 4
    assert not c.draining and not c.ready_to_release({"home", "new1"})


def test_no_home_left_releases_without_draining():
    c = Capacity()
    c.scale_out({"home": 2.0}, 2)
    assert c.scale_in({"new1"}) == set()
    assert c.ready_to_release({"new1"})
