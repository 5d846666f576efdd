"""One place decides where the warehouse is; its URLs work with psql and never leak passwords."""

import subprocess

import pytest

from pulse.warehouse import Connection, WarehouseError, psql_executable


@pytest.mark.parametrize(
    ("url", "host", "port", "database"),
    [
        ("postgresql://u:pw@localhost/x", "localhost", 5432, "x"),
        ("postgresql://u:p%40ss@%2Ftmp%2FSock:6543/db", "/tmp/Sock", 6543, "db"),  # case kept
        ("postgres://u@[::1]:6000/d", "::1", 6000, "d"),
        ("postgresql://postgres:@/postgres?host=/tmp/pg", "/tmp/pg", 5432, "postgres"),
    ],
)
def test_urls_round_trip(url, host, port, database):
    conn = Connection.from_url(url)
    assert (conn.host, conn.port, conn.database) == (host, port, database)
    assert Connection.from_url(conn.url()) == conn


def test_redacted_hides_only_the_password():
    conn = Connection.from_url("postgresql://pulse:pulse@localhost:5432/pulse")
    assert conn.redacted() == "postgresql://pulse:***@localhost:5432/pulse"


def test_non_postgres_url_is_refused_with_an_example():
    with pytest.raises(WarehouseError, match="postgresql://"):
        Connection.from_url("mysql://u:p@h/db")


def test_psql_accepts_the_warehouse_url(warehouse_db):
    out = subprocess.run(
        [psql_executable(), warehouse_db.url(), "-tAc", "select current_database()"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == warehouse_db.database


def test_role_urls_differ_from_the_admins_only_in_the_user(warehouse_db):
    from pulse import roles, warehouse

    if not roles.roles_enabled():
        pytest.skip("PULSE_ROLES=off")
    for role in warehouse.ROLES:
        conn = roles.connection(role)
        assert (conn.host, conn.port, conn.database) == (
            warehouse_db.host, warehouse_db.port, warehouse_db.database)
        assert conn.user == f"pulse_{role}" != warehouse_db.user
        assert roles.url(role) == conn.url()
        assert f":{conn.password}@" not in conn.redacted() and ":***@" in conn.redacted()


def test_export_env_as_a_role_points_psql_at_it(warehouse_db, monkeypatch):
    import os

    from pulse import roles

    if not roles.roles_enabled():
        pytest.skip("PULSE_ROLES=off")
    for key in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"):
        monkeypatch.setenv(key, os.environ.get(key, ""))  # put back after the test
    roles.export_env("analyst")
    out = subprocess.run([psql_executable(), "-tAc", "select current_user, current_database()"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"{roles.role_name('analyst')}|{warehouse_db.database}"
