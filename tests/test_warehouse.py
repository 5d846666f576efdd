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
