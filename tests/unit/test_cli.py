"""What `raytables status` says about moves, drained nodes and autoscaling."""

from __future__ import annotations

from cluster.cli import scaling_caption


def test_caption_names_moves_drains_and_the_autoscaler_state():
    stats = {
        "moves": [{"pause_seconds": 0.3}, {"pause_seconds": 0.1}, {"pause_seconds": 0.2}],
        "drained_nodes": ["abcdef0123456789"],
        "autoscale": {"requested_cpus": 6, "extra_cpus": 4, "busy": 0.87, "draining": [],
                      "decisions": [{"event": "scale_out"}]},
    }
    assert scaling_caption(stats).splitlines() == [
        "3 live moves, pause median 0.200 s max 0.300 s",
        "drained: abcdef01",
        "autoscale: 6 CPUs requested (4 extra), partitions busy 87%, draining 0 nodes; "
        "last decision: scale_out",
    ]


def test_no_caption_for_an_app_that_never_scaled():
    assert scaling_caption({"moves": [], "drained_nodes": [], "autoscale": None}) == ""
