"""The embedded PostgreSQL stopped during a load, then started again: the load fails
with a clear error (or rides it out), and a rerun leaves raw and the marts equal to the
truth. The scenario stops a server of its own, never the shared one, and this module
runs last in the session anyway (see conftest.py)."""

import pytest

from pulse import warehouse
from reliability import scenarios
from reliability.scenarios import Context
from reliability.scenarios.crash import CLEAR_ERROR

# Decided at collection, before `warehouse_db` points WAREHOUSE_URL at the test database.
EMBEDDED = warehouse.is_embedded()


@pytest.mark.skipif(not EMBEDDED, reason="WAREHOUSE_URL is set: no embedded server to stop")
def test_postgres_stopped_mid_load_then_restarted_loses_nothing(monkeypatch):
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)  # the scenario runs embedded
    outcome = scenarios.run("postgres_restarted", Context(scale="small", seed=20251))
    assert not outcome.skipped
    assert not outcome.errors, outcome.errors
    assert outcome.duplicates == 0 and outcome.lost == 0
    assert outcome.rows_raw == outcome.rows_marts == outcome.rows_expected > 0
    trial = next(t for t in outcome.trial_log if t.counted)
    assert trial.landed == "load"
    assert trial.detail["raw_after_fault"] in ("before", "after")
    # the load either rides the stop out on dlt's retries (a busy machine restarts the
    # server in time) or fails naming the server going away
    assert trial.detail["child"] in ("failed", "finished")
    if trial.detail["child"] == "failed":
        assert CLEAR_ERROR.search(trial.detail["child_error"].split(" <- ")[0]), \
            trial.detail["child_error"]
