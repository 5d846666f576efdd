"""The `pulse` command passes dbt's own options through and reports the warehouse."""

import subprocess
import sys
from pathlib import Path

from pulse.warehouse import PROJECT_ROOT
from tests.conftest import query

PULSE = str(Path(sys.executable).with_name("pulse"))


def test_build_passes_dbt_options_through(warehouse_db):
    run = subprocess.run([PULSE, "build", "--select", "chicago_community_areas",
                          "--indirect-selection", "cautious"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert query(warehouse_db, "select count(*) from seeds.chicago_community_areas") == [(77,)]


def test_unknown_options_are_refused(warehouse_db):
    run = subprocess.run([PULSE, "load", "chicago", "--bogus"], capture_output=True, text=True)
    assert run.returncode == 2 and "unrecognized arguments: --bogus" in run.stderr


def test_db_url_names_the_configured_warehouse(warehouse_db):
    run = subprocess.run([PULSE, "db", "url"], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == warehouse_db.url()


def test_load_the_country_sources(warehouse_db, monkeypatch, tmp_path):
    import shutil

    from pipelines.load import default_pipelines_dir
    from sample_api.countries import CountryApi, CountryUniverse

    for schema in ("raw_worldbank", "raw_oecd"):  # and the local state of earlier tests' loads
        query(warehouse_db, f"drop schema if exists {schema} cascade")
    for name in ("worldbank", "oecd_gdp"):
        shutil.rmtree(default_pipelines_dir() / name, ignore_errors=True)
    monkeypatch.setenv("SOURCES__OECD__LEDGER_PATH", str(tmp_path / "ledger.json"))
    monkeypatch.setenv("SOURCES__OECD__MIN_SECONDS_BETWEEN_REQUESTS", "0")
    universe = CountryUniverse(seed=3, countries=5, first_year=2020)
    with CountryApi(universe) as api:
        monkeypatch.setenv("SOURCES__WORLDBANK__BASE_URL", api.worldbank_url)
        monkeypatch.setenv("SOURCES__OECD__BASE_URL", api.oecd_url)
        for args in (["worldbank"], ["oecd", "--dataset", "gdp"]):
            run = subprocess.run([PULSE, "load", *args], capture_output=True, text=True)
            assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        unknown = subprocess.run([PULSE, "load", "oecd", "--dataset", "nope"],
                                 capture_output=True, text=True)
    assert query(warehouse_db, "select count(*) from raw_worldbank.countries") == [
        (len(universe.countries),)]
    assert query(warehouse_db, "select count(*) from raw_oecd.gdp") == [
        (len(universe.oecd_rows("gdp")),)]
    assert unknown.returncode == 1 and "unknown OECD dataflow(s) nope; declared:" in unknown.stderr



def test_db_env_quotes_values_for_the_shell(warehouse_db, tmp_path):
    """`eval "$(pulse db env)"` keeps a password holding quotes or $( ) a password."""
    import dataclasses
    import os

    password = "it's $(touch pwned) `touch pwned2`"
    url = dataclasses.replace(warehouse_db, password=password).url()
    env = {**os.environ, "PULSE_ROLES": "off", "WAREHOUSE_URL": url}
    run = subprocess.run([PULSE, "db", "env"], capture_output=True, text=True, env=env, check=True)
    shown = subprocess.run(["bash", "-c", 'eval "$1"; printf %s "$PGPASSWORD"', "-", run.stdout],
                           capture_output=True, text=True, cwd=tmp_path, check=True)
    assert not list(tmp_path.iterdir()), "eval ran a command from the password"
    assert shown.stdout == password


def test_build_of_a_selection_that_matches_nothing_fails(warehouse_db):
    """dbt itself only warns and exits 0: a typo in --select must not look like a pass."""
    run = subprocess.run([PULSE, "build", "--select", "nosuchmodel"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert "'nosuchmodel' does not match any enabled nodes" in run.stdout + run.stderr


def test_db_status_never_prints_a_password(warehouse_db):
    import os

    assert warehouse_db.password, "the test warehouse should have a password to hide"
    embedded = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_URL"}
    for env in (embedded, {**os.environ, "WAREHOUSE_URL": warehouse_db.url()}):
        run = subprocess.run([PULSE, "db", "status"], capture_output=True, text=True, env=env,
                             check=True)
        assert f":{warehouse_db.password}@" not in run.stdout + run.stderr
    assert "url: postgresql://" in run.stdout and ":***@" in run.stdout


def test_every_command_says_its_defaults_and_examples():
    run = subprocess.run([PULSE, "--version"], capture_output=True, text=True, check=True)
    assert run.stdout.startswith("pulse 0.")
    commands = subprocess.run([PULSE, "--help"], capture_output=True, text=True, check=True)
    names = commands.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert {"db", "build", "load", "demo", "collect", "reports"} <= set(names)
    for name in names:
        page = subprocess.run([PULSE, name, "--help"], capture_output=True, text=True, check=True)
        assert "examples:" in page.stdout, name
    docs = subprocess.run([PULSE, "docs", "--help"], capture_output=True, text=True).stdout
    assert "(default: 8080)" in docs and "(default: False)" not in docs


def test_stopping_pulse_docs_stops_its_server(warehouse_db):
    """A supervisor's SIGTERM to `pulse docs` reaches `dbt docs serve`: the port is free after."""
    import signal
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pulse = subprocess.Popen([PULSE, "docs", "--port", str(port)], cwd=PROJECT_ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def serving() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        deadline = time.monotonic() + 300
        while not serving():
            assert pulse.poll() is None, "pulse docs ended before serving"
            assert time.monotonic() < deadline, "dbt docs never served"
            time.sleep(0.5)
        pulse.send_signal(signal.SIGTERM)
        pulse.wait(timeout=30)
        deadline = time.monotonic() + 30
        while serving():
            assert time.monotonic() < deadline, "dbt docs serve outlived pulse docs"
            time.sleep(0.2)
    finally:
        pulse.kill()
