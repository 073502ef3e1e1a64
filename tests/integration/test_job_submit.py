"""`ray job submit` of an unchanged example against a running `ray start --head`."""

from __future__ import annotations

import re

import pytest

from cluster.localdev import REPO
from tests.integration.raycli import RayHead

pytestmark = pytest.mark.integration


def test_ray_job_submit_runs_the_word_count_example(bootstrap):
    head = RayHead(num_cpus=2)
    head.start()
    try:
        proc = head.submit(str(REPO / "examples"), ["python", "word_count.py", "--demo"],
                           {"RAYTABLES_BROKER": f"kafka://{bootstrap}",
                            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        rows = dict(re.findall(r"│ (\w+)\s*│ (\d+)\s*│", out))
        assert rows == {"brown": "1000", "fox": "1000", "quick": "1000", "the": "1000"}, out[-4000:]
        assert "succeeded" in out
    finally:
        head.stop()
    assert head.wait_gone()
