"""The collector's spool on a full tmpfs (a real ENOSPC, or the spool's cap without root)
while the Postgres sink is down, at small scale, with roles on: clients get 503s and
never a 500, every failed drain keeps every segment, and once the sink is back every
message a client heard a 200 for is in the marts once, and nothing else is.

`python -m reliability --scale small --only events_disk_full_sink_down --keep` replays it.
"""

import pytest

from reliability import scenarios
from reliability.scenarios import Context

pytestmark = pytest.mark.usefixtures("warehouse_db")


def test_a_full_disk_and_a_sink_down_lose_and_duplicate_no_acknowledged_message():
    outcome = scenarios.run("events_disk_full_sink_down", Context(scale="small", seed=7))
    assert not outcome.errors, outcome.errors
    assert (outcome.lost, outcome.duplicates) == (0, 0)
    assert outcome.rows_raw == outcome.rows_marts == outcome.rows_expected > 1000
    down = [t for t in outcome.trial_log if t.fault == "sink-down"]
    assert len(down) >= 2 and all(not t.errors for t in down)
    assert outcome.detail["sink_down_seconds"] >= 10
    (full,) = [t for t in outcome.trial_log if t.fault == "disk-full"]
    assert full.counted and outcome.detail["refused_while_down"] > 0
    assert [t.fault for t in outcome.trial_log].count("sigkill") == 1
    if outcome.detail["disk"].endswith("tmpfs"):  # a torn record was cut at the restart
        assert outcome.detail["torn_bytes"] > 0
    assert "no 500" in outcome.notes
