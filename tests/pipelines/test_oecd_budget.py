"""OECD's request budget is never exceeded, even by a run that asks for more.

The ledger is one file per machine (the user's state folder), shared by every process,
checkout, warehouse database and dlt pipelines dir: these tests use real files, real
processes, two real databases and (with the local country API) real HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from pipelines.oecd import OecdBudgetExceeded, dataflow_pipeline, load_oecd
from pipelines.oecd.budget import LEDGER_FILE, WINDOW_SECONDS, RequestLedger
from pipelines.oecd.settings import DATAFLOWS_FILE
from pulse import warehouse
from pulse.warehouse import PROJECT_ROOT
from sample_api import countries
from tests.conftest import query


class FakeClock:
    """Time that only moves when the ledger sleeps: an hour passes in no time."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _ledger(path, per_hour=3, gap=0.0, max_wait=0.0, clock=None):
    clock = clock or FakeClock()
    return RequestLedger(path, per_hour, gap, max_wait, clock=clock, sleep=clock.sleep)


def test_full_hour_raises_with_a_clear_message(tmp_path):
    clock = FakeClock()
    ledger = _ledger(tmp_path / "ledger.json", clock=clock)
    for _ in range(3):
        ledger.take("dataflow gdp")
        clock.now += 60
    with pytest.raises(OecdBudgetExceeded) as failure:
        ledger.take("dataflow population")
    err = failure.value
    message = str(err)
    assert "3 of 3 requests allowed in the last hour" in message
    assert "dataflow population was not requested" in message
    assert "next slot opens at" in message and "(in 3420 s)" in message  # first + 1 h - now
    assert "cursor did not move" in message
    assert err.retriable and (err.used, err.budget) == (3, 3)
    assert err.next_slot_at == clock.now - 180 + WINDOW_SECONDS
    assert len(ledger.used()) == 3  # the refused attempt took no slot

    clock.now = err.next_slot_at + 1  # the oldest attempt has aged out of the hour
    ledger.take("dataflow population")
    assert len(ledger.used()) == 3


def test_waits_for_a_slot_within_max_wait(tmp_path):
    clock = FakeClock()
    ledger = _ledger(tmp_path / "ledger.json", per_hour=2, max_wait=WINDOW_SECONDS, clock=clock)
    ledger.take("a")
    ledger.take("b")
    waited = ledger.take("c")
    assert waited == pytest.approx(WINDOW_SECONDS)
    assert clock.slept == [pytest.approx(WINDOW_SECONDS)]


def test_min_seconds_between_requests(tmp_path):
    clock = FakeClock()
    ledger = _ledger(tmp_path / "ledger.json", per_hour=10, gap=3.0, clock=clock)
    ledger.take("a")
    clock.now += 1.0
    assert ledger.take("b") == pytest.approx(2.0)
    assert ledger.take("c") == pytest.approx(3.0)
    times = [a.at for a in ledger.used()]
    assert [round(b - a, 6) for a, b in zip(times, times[1:], strict=False)] == [3.0, 3.0]


def test_retry_after_holds_every_process_back(tmp_path):
    clock = FakeClock()
    ledger = _ledger(tmp_path / "ledger.json", per_hour=10, clock=clock)
    ledger.take("a")
    ledger.block(600)  # OECD said 429, Retry-After: 600
    other = _ledger(tmp_path / "ledger.json", per_hour=10, clock=clock)
    with pytest.raises(OecdBudgetExceeded, match="HTTP 429 and asked this machine to wait"):
        other.take("b")
    clock.now += 598  # dlt's retry slept most of it: the rest is waited out, not refused
    assert other.take("b") == pytest.approx(2.0)
    assert len(other.used()) == 2


def test_unreadable_ledger_counts_the_hour_as_spent(tmp_path):
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    with pytest.raises(OecdBudgetExceeded):
        RequestLedger(path, 3).take("a")


TAKE = textwrap.dedent("""
    import sys
    from pipelines.oecd.budget import OecdBudgetExceeded, RequestLedger
    try:
        RequestLedger(sys.argv[1], int(sys.argv[2])).take("process " + sys.argv[3])
        print("took")
    except OecdBudgetExceeded as err:
        print("refused:", err)
""")


def _take_in_process(path, per_hour, who) -> str:
    done = subprocess.run([sys.executable, "-c", TAKE, str(path), str(per_hour), str(who)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_processes_share_the_ledger(tmp_path):
    path = tmp_path / "ledger.json"
    # five processes race for three slots: the lock lets exactly three through
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda who: _take_in_process(path, 3, who), range(5)))
    assert sorted(a.split(":")[0] for a in answers) == ["refused"] * 2 + ["took"] * 3
    # a new ledger object in this process sees the slots the others used
    assert len(RequestLedger(path, 3).used()) == 3
    assert len(json.loads(path.read_text())["attempts"]) == 3
    with pytest.raises(OecdBudgetExceeded, match="3 of 3 requests"):
        RequestLedger(path, 3).take("this process")


# --- through the source, against the local country API -------------------------------------



@pytest.fixture
def universe():
    return countries.CountryUniverse(seed=7, countries=20, first_year=2000)


@pytest.fixture
def four_dataflows(tmp_path, monkeypatch):
    """dataflows.yml with a fourth dataflow (population again, under another name), 3/hour."""
    doc = yaml.safe_load(DATAFLOWS_FILE.read_text())
    doc["requests_per_hour"] = 3
    doc["min_seconds_between_requests"] = 0
    doc["dataflows"]["population_again"] = dict(doc["dataflows"]["population"])
    path = tmp_path / "dataflows.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv("PULSE_OECD_DATAFLOWS", str(path))
    return list(doc["dataflows"])


@pytest.fixture
def machine_ledger(tmp_path, monkeypatch):
    """The machine's ledger as the source finds it by default, in a state folder of this
    test's own (XDG_STATE_HOME) rather than the user's real one."""
    monkeypatch.delenv("SOURCES__OECD__LEDGER_PATH", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "pulse" / LEDGER_FILE


@pytest.fixture
def second_database(warehouse_db):
    """Another warehouse database on the same server: another Pulse install's."""
    conn = warehouse.create_database(f"{warehouse_db.database}_second")
    query(conn, "drop schema if exists raw_oecd cascade")
    yield conn
    warehouse.drop_database(conn.database)


def _data_requests(api) -> list:
    return [r for r in api.requests if "/data/" in r.path]


def _cursor(name, pipelines_dir):
    state = dataflow_pipeline(name, pipelines_dir).state
    resources = state.get("sources", {}).get(f"oecd_{name}", {}).get("resources", {})
    return resources.get(name, {}).get("last_request_started_at")


def test_budget_is_never_exceeded_by_a_run_that_asks_for_more(api, four_dataflows, warehouse_db,
                                                               tmp_path, machine_ledger):
    query(warehouse_db, "drop schema if exists raw_oecd cascade")
    dlt_dir = tmp_path / "dlt"
    args = {"credentials": warehouse_db.url(), "pipelines_dir": dlt_dir, "base_url": api.oecd_url,
            "backoff_factor": 0}

    with pytest.raises(OecdBudgetExceeded) as failure:
        load_oecd(**args)
    message = str(failure.value)
    assert "3 of 3 requests allowed in the last hour" in message
    assert "dataflow population_again" in message and "next slot opens at" in message
    assert "cursor did not move" in message
    assert len(_data_requests(api)) == 3
    loaded, refused = four_dataflows[:3], four_dataflows[3]
    assert all(_cursor(name, dlt_dir) for name in loaded)
    assert _cursor(refused, dlt_dir) is None
    tables = {t for (t,) in query(warehouse_db, "select table_name from information_schema.tables "
                                                "where table_schema = 'raw_oecd'")}
    assert set(loaded) <= tables and refused not in tables
    cursors = {name: _cursor(name, dlt_dir) for name in loaded}

    assert str(machine_ledger) in message and not (dlt_dir / LEDGER_FILE).exists()

    # another process, with a ledger of its own making, finds the hour spent: nothing is sent
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(f"""
            from pipelines.oecd import OecdBudgetExceeded, load_oecd
            try:
                load_oecd(credentials={warehouse_db.url()!r}, pipelines_dir={str(dlt_dir)!r},
                          base_url={api.oecd_url!r})
            except OecdBudgetExceeded as err:
                print("refused:", err)
        """)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused:") and "3 of 3 requests" in done.stdout
    assert time.time() - started < 240  # refused at once: no wait for the next slot (an hour)
    assert len(_data_requests(api)) == 3  # still three in all
    assert _cursor(refused, dlt_dir) is None
    assert {name: _cursor(name, dlt_dir) for name in loaded} == cursors  # no cursor moved


def test_every_retry_takes_a_slot(api, four_dataflows, warehouse_db, tmp_path, machine_ledger):
    query(warehouse_db, "drop schema if exists raw_oecd cascade")
    api.faults.server_error_next = 2  # two 503s, then the answer: three attempts
    with pytest.raises(OecdBudgetExceeded) as failure:
        load_oecd(["gdp", "population"], credentials=warehouse_db.url(), pipelines_dir=tmp_path / "dlt",
                  base_url=api.oecd_url, backoff_factor=0, max_attempts=5)
    assert len(_data_requests(api)) == 3  # gdp took all three slots; population asked nothing
    assert "dataflow population" in str(failure.value)
    assert len(RequestLedger(machine_ledger, 3).used()) == 3


def test_two_warehouses_and_pipelines_dirs_on_one_machine_share_the_budget(
        api, four_dataflows, warehouse_db, second_database, tmp_path, machine_ledger):
    """OECD counts requests per client address: a second Pulse (another database, another
    dlt folder, as another checkout or PULSE_WAREHOUSE_DIR has) gets no budget of its own."""
    query(warehouse_db, "drop schema if exists raw_oecd cascade")
    load_oecd(["gdp", "population"], credentials=warehouse_db.url(),
              pipelines_dir=tmp_path / "first" / "dlt", base_url=api.oecd_url, backoff_factor=0)
    with pytest.raises(OecdBudgetExceeded) as failure:
        load_oecd(["gdp", "population"], credentials=second_database.url(),
                  pipelines_dir=tmp_path / "second" / "dlt", base_url=api.oecd_url, backoff_factor=0)
    message = str(failure.value)
    assert "3 of 3 requests allowed in the last hour" in message and str(machine_ledger) in message
    assert "dataflow population" in message
    assert len(_data_requests(api)) == 3  # two for the first warehouse, one for the second
    assert [a.what.split(" (")[0] for a in RequestLedger(machine_ledger, 3).used()] == [
        "dataflow gdp", "dataflow population", "dataflow gdp"]
    assert not list(tmp_path.glob(f"*/dlt/{LEDGER_FILE}"))  # no ledger per pipelines dir
