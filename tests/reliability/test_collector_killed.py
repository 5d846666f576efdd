"""The collector SIGKILLed under load, the drain killed mid-batch, the lake sink down and
the spool full, at small scale, with roles on: every message a client heard a 200 for is
in the marts once, and nothing else is.

`python -m reliability --scale small --only collector_killed --keep` replays it.
"""

import pytest

from reliability import scenarios
from reliability.scenarios import Context

pytestmark = pytest.mark.usefixtures("warehouse_db")


def test_every_acknowledged_message_survives_collector_and_drain_kills_once():
    outcome = scenarios.run("collector_killed", Context(scale="small", seed=7))
    assert not outcome.errors, outcome.errors
    assert (outcome.lost, outcome.duplicates) == (0, 0)
    assert outcome.rows_raw == outcome.rows_marts == outcome.rows_expected > 500
    kills = [t for t in outcome.trial_log if t.fault == "sigkill"]
    assert len(kills) == 5
    assert any(t.fault == "sigkill-drain" for t in outcome.trial_log)
    assert "resent after a broken connection" in outcome.notes
