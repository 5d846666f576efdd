"""The suite's harness without a database: the registry, the table, the exit code."""

import json

import pytest

from reliability import scenarios
from reliability.__main__ import main
from reliability.outcome import Outcome, Trial, markdown_table
from reliability.scenarios import SCENARIOS, Context, scenario


def test_crash_scenarios_are_registered_in_run_order():
    names = [s.name for s in scenarios.load()]
    assert {"load_killed", "dbt_killed", "postgres_restarted"} <= set(names)
    assert names[-1] == "postgres_restarted"  # it disturbs a server: last


def test_an_outcome_sums_its_trials_and_fails_on_loss():
    outcome = Outcome("x")
    outcome.add(Trial(seed=1, fault="sigkill", landed="load"))
    outcome.add(Trial(seed=2, fault="sigkill", landed="finished", counted=False, lost=3))
    assert (outcome.trials, outcome.faults, outcome.lost, outcome.seeds) == (2, 1, 3, [1, 2])
    assert not outcome.passed
    table = markdown_table([outcome, Outcome("y", skipped=True, notes="not embedded")])
    assert table.splitlines()[0].startswith("| scenario | trials | faults injected | rows expected "
                                            "| rows in raw | rows in marts | duplicates | rows lost")
    assert "| x | 2 | 1 | 0 | 0 | 0 | 0 | 3 | FAIL |" in table
    assert "| y | – |" in table and "skipped" in table


def test_a_skipped_scenario_is_reported_skipped_never_passed():
    skipped = Outcome("y", skipped=True, notes="WAREHOUSE_URL is set: the server is not ours to stop")
    assert (skipped.passed, skipped.failed, skipped.result) == (False, False, "skipped")
    assert skipped.to_json()["result"] == "skipped" and not skipped.to_json()["passed"]
    row = markdown_table([skipped]).splitlines()[-1]
    assert "| skipped | WAREHOUSE_URL is set" in row and "pass" not in row


@pytest.fixture
def fake_scenarios():
    @scenario("fake_clean", order=1)
    def clean(ctx: Context) -> Outcome:
        out = Outcome("fake_clean", rows_expected=5, rows_raw=5, rows_marts=5)
        out.add(Trial(seed=ctx.trial_seed(0), fault="sigkill", landed="extract"))
        return out

    @scenario("fake_lossy", order=2)
    def lossy(ctx: Context) -> Outcome:
        out = Outcome("fake_lossy")
        out.add(Trial(seed=ctx.trial_seed(0), fault="sigkill", landed="load", lost=1))
        return out

    @scenario("fake_crashing", order=3)
    def crashing(ctx: Context) -> Outcome:
        raise RuntimeError("boom")

    @scenario("fake_skipped", order=4)
    def skipped(ctx: Context) -> Outcome:
        return Outcome("fake_skipped", skipped=True, notes="no server of ours to stop")

    yield
    for name in ("fake_clean", "fake_lossy", "fake_crashing", "fake_skipped"):
        SCENARIOS.pop(name, None)


def test_cli_writes_the_table_and_json_and_fails_on_a_lost_row(fake_scenarios, tmp_path, capsys):
    assert main(["--only", "fake_clean", "--seed", "4", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "latest.json").read_text())
    assert result["passed"] and result["seed"] == 4
    assert result["scenarios"][0]["trial_log"][0] == {**result["scenarios"][0]["trial_log"][0],
                                                      "seed": 4000, "landed": "extract"}
    assert "| fake_clean | 1 | 1 | 5 | 5 | 5 | 0 | 0 | pass |" in (tmp_path / "latest.md").read_text()

    assert main(["--only", "fake_lossy,fake_clean", "--out", str(tmp_path)]) == 1
    assert main(["--only", "fake_crashing", "--out", str(tmp_path)]) == 1
    crashed = json.loads((tmp_path / "latest.json").read_text())["scenarios"][0]
    assert crashed["errors"] == ["scenario crashed: RuntimeError: boom"]
    assert "| fake_crashing |" in capsys.readouterr().out


def test_cli_lists_a_skipped_scenario_as_skipped_not_passed(fake_scenarios, tmp_path, capsys):
    assert main(["--only", "fake_clean,fake_skipped", "--out", str(tmp_path)]) == 0  # nothing failed
    result = json.loads((tmp_path / "latest.json").read_text())
    assert (result["passed"], result["skipped"], result["failed"]) == (False, ["fake_skipped"], [])
    row = next(r for r in result["scenarios"] if r["scenario"] == "fake_skipped")
    assert (row["result"], row["passed"]) == ("skipped", False)
    assert "| fake_skipped | – | – | – | – | – | – | – | skipped | no server of ours to stop |" \
        in (tmp_path / "latest.md").read_text()
    out = capsys.readouterr().out
    assert "fake_skipped: skipped" in out and "skipped, not passed: fake_skipped" in out
    # an older results file that called a skipped scenario passed is corrected on --merge
    old = json.loads((tmp_path / "latest.json").read_text())
    for r in old["scenarios"]:
        r.pop("result")
        r["passed"] = True
    (tmp_path / "latest.json").write_text(json.dumps(old))
    assert main(["--only", "fake_clean", "--merge", "--out", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "latest.json").read_text())
    kept = next(r for r in merged["scenarios"] if r["scenario"] == "fake_skipped")
    assert (kept["result"], kept["passed"]) == ("skipped", False)


def test_cli_refuses_an_unknown_scenario(capsys):
    with pytest.raises(SystemExit):
        main(["--only", "no_such_scenario"])
    assert "unknown scenario" in capsys.readouterr().err
