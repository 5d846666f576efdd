"""One place decides where the warehouse is; its URLs work with psql and never leak passwords."""

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
        assert conn.user == roles.role_name(role) != warehouse_db.user
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


# --- the embedded server, started by root ----------------------------------------------------

SERVER_USER = "pgserver"  # the OS user postgres runs as when root starts it


def _modes(paths) -> dict:
    return {p: stat.S_IMODE(p.stat().st_mode) for p in paths}


def _server_ids() -> tuple[int, int]:
    """The server user's uid and gid; (-1, -1) before it exists (then only o+x lets it pass)."""
    import pwd

    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        return -1, -1
    return entry.pw_uid, entry.pw_gid


def _server_can_pass(path, uid: int, gid: int) -> bool:
    info = path.stat()
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


@pytest.fixture
def private() -> Iterator[Path]:
    """A folder only root may enter (0700), with a path short enough for a socket inside."""
    folder = Path(tempfile.mkdtemp(prefix="pw-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="pgserver changes folder modes only when started by root")
@pytest.mark.parametrize("depth", ["short", "long"])  # long: a socket path the OS refuses
def test_starting_the_embedded_server_as_root_widens_no_folder_above_it(private, monkeypatch,
                                                                         depth):
    """A server of its own (PULSE_WAREHOUSE_DIR in a private temporary folder), stopped at
    the end: the folders above its data folder and above the wheel's binaries keep their
    modes, except o+x where the server user could not pass through; nothing becomes
    readable."""
    import pgserver

    from pulse import warehouse

    shared = private / ("s" * 80 if depth == "long" else "s")  # passable: stays 0711
    shared.mkdir()
    shared.chmod(0o711)
    data = shared / "warehouse"
    binaries = Path(pgserver.__file__).parent / "pginstall" / "bin"
    above = [shared, *shared.parents, *binaries.resolve().parents]
    uid, gid = _server_ids()
    passable = {p: _server_can_pass(p, uid, gid) for p in above}
    before = _modes(above)
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("PULSE_WAREHOUSE_DIR", str(data))
    try:
        conn = warehouse.connection()
        admin = warehouse.Connection(conn.host, conn.port, conn.user, conn.password, "postgres")
        assert warehouse.query(admin, "select current_setting('data_directory')") == [
            (str(data / "pgdata"),)]
    finally:
        warehouse.stop()
    after = _modes(above)
    for path in above:
        allowed = {before[path]} | ({before[path] | stat.S_IXOTH} if not passable[path] else set())
        assert after[path] in allowed, f"{path}: {oct(before[path])} became {oct(after[path])}"
    assert (after[shared], after[private]) == (0o711, 0o701)
    uid, _ = _server_ids()
    assert (data / "pgdata").stat().st_uid == uid
    socket_dir = Path(conn.host)
    if depth == "short":
        assert socket_dir == data / "pgdata"
    else:  # the socket moved to a private folder of the server user; /tmp is as it was
        info = socket_dir.stat()
        assert socket_dir != data / "pgdata" and info.st_uid == uid
        assert stat.S_IMODE(info.st_mode) == 0o700
        assert stat.S_IMODE(socket_dir.parent.stat().st_mode) == 0o1777
        shutil.rmtree(socket_dir, ignore_errors=True)
