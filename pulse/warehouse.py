"""Where the warehouse lives: the one place dlt, dbt, Dagster and the CLI ask.

`WAREHOUSE_URL` (a postgresql:// URL) wins. Without it, Pulse runs an embedded
PostgreSQL 16 (the pgserver wheel) with its data under `.warehouse/` in the
project. The server is started on demand, outlives the process that started it
(so the CLI, dbt and Dagster share one server) and is stopped by `pulse db stop`.

Each step connects as the least role it needs (`pulse.roles.connection(...)`):
dlt as `pulse_loader`, dbt as `pulse_transformer`, readers as `pulse_analyst`. The
URL's own user (the admin) only creates databases and those roles.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE = "pulse"
# pgserver trusts local socket connections; dlt still insists on a password.
EMBEDDED_PASSWORD = "pulse"


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or started."""


@dataclass(frozen=True)
class Connection:
    """The parts of a postgresql:// URL, as libpq and dbt want them."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_url(cls, url: str) -> Connection:
        """Parsed by libpq's own rules (psycopg.conninfo): percent-escapes, `[::1]`,
        socket folders in the host (`%2Ftmp`) or in `?host=`, all as psql reads them."""
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        if urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise WarehouseError(
                "WAREHOUSE_URL must start with postgresql://. "
                "Example: postgresql://user:password@localhost:5432/pulse"
            )
        try:
            params = conninfo_to_dict(url)
        except ProgrammingError as err:  # libpq's message never repeats the password
            raise WarehouseError(f"WAREHOUSE_URL is not a valid PostgreSQL URL: {err}") from None
        return cls(
            host=str(params.get("host") or "localhost"),
            port=int(params.get("port") or 5432),
            user=str(params.get("user") or "postgres"),
            password=str(params.get("password") or ""),
            database=str(params.get("dbname") or DEFAULT_DATABASE),
        )

    def url(self) -> str:
        host = self.host
        if host.startswith("/"):
            host = quote(host, safe="")
        elif ":" in host:
            host = f"[{host}]"
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql://{auth}@{host}:{self.port}/{self.database}"

    def libpq_env(self) -> dict[str, str]:
        """PG* variables: what psql, psycopg and profiles.yml read."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.database,
        }

    def redacted(self) -> str:
        """The URL with the password masked, for logs and errors."""
        masked = Connection(self.host, self.port, self.user, "***" if self.password else "",
                            self.database)
        return masked.url().replace("%2A%2A%2A", "***")


def data_dir() -> Path:
    """Folder of the embedded server: `PULSE_WAREHOUSE_DIR`, else `.warehouse/`."""
    return Path(os.environ.get("PULSE_WAREHOUSE_DIR", PROJECT_ROOT / ".warehouse")).resolve()


def is_embedded() -> bool:
    return not os.environ.get("WAREHOUSE_URL")


def is_embedded_server(conn: Connection) -> bool:
    """Whether `conn` goes to the embedded server (trust authentication, no passwords)."""
    if is_embedded():
        return True
    postmaster = _read_postmaster(data_dir() / "pgdata")
    return postmaster is not None and (conn.host, conn.port) == (postmaster.socket_dir,
                                                                 postmaster.port)


# The roles a step can run as (pulse/roles.py); None or "admin" is WAREHOUSE_URL's user.
ROLES = ("loader", "transformer", "analyst")


def connection(database: str | None = None, start: bool = True) -> Connection:
    """The admin's connection (WAREHOUSE_URL's user, or the embedded `postgres`); starts
    the embedded server if needed and `start`. A step's own role: `pulse.roles.connection`."""
    if url := os.environ.get("WAREHOUSE_URL"):
        conn = Connection.from_url(url)
    else:
        conn = _embedded_connection(start=start)
    if database:
        conn = Connection(conn.host, conn.port, conn.user, conn.password, database)
    return conn


def url(database: str | None = None) -> str:
    """The admin's postgresql:// URL, which psql, dlt and psycopg accept."""
    return connection(database).url()


def export_env(conn: Connection | None = None) -> Connection:
    """Puts `conn` (default: the admin's) into PG* variables, so dbt and child processes follow."""
    conn = conn or connection()
    os.environ.update(conn.libpq_env())
    return conn


# --- the embedded server -------------------------------------------------------------


@dataclass(frozen=True)
class _Postmaster:
    pid: int
    port: int
    socket_dir: str


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    """The running server of `pgdata`, from its postmaster.pid, or None."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        postmaster = _Postmaster(int(lines[0]), int(lines[3]), lines[4])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    try:
        os.kill(postmaster.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by the pgserver user
    if not Path(postmaster.socket_dir, f".s.PGSQL.{postmaster.port}").exists():
        return None
    return postmaster


_database_checked: list[bool] = []  # once per process: the default database exists


def _embedded_connection(start: bool) -> Connection:
    pgdata = data_dir() / "pgdata"
    postmaster = _read_postmaster(pgdata)
    if postmaster is None:
        if not start:
            raise WarehouseError(
                f"the embedded warehouse in {pgdata} is not running; start it with `pulse db start`"
            )
        postmaster = _start(pgdata)
    if not _database_checked:
        _ensure_database(Connection(postmaster.socket_dir, postmaster.port, "postgres",
                                    EMBEDDED_PASSWORD, "postgres"), DEFAULT_DATABASE)
        _database_checked.append(True)
    conn = Connection(postmaster.socket_dir, postmaster.port, "postgres", EMBEDDED_PASSWORD,
                      DEFAULT_DATABASE)
    return conn


def _start(pgdata: Path) -> _Postmaster:
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting the embedded PostgreSQL in %s", pgdata)
    with _start_lock(pgdata.parent):
        postmaster = _read_postmaster(pgdata)  # another process may have started it meanwhile
        if postmaster is not None:
            return postmaster
        try:
            if _runs_as_root():
                _start_as_server_user(pgdata)
            else:
                _start_with_pgserver(pgdata)
        except Exception as err:
            raise WarehouseError(
                f"could not start the embedded PostgreSQL in {pgdata}: {err}. "
                f"Its log is {pgdata / 'log'}; set WAREHOUSE_URL to use another server."
            ) from err
    postmaster = _read_postmaster(pgdata)
    if postmaster is None:
        raise WarehouseError(f"the embedded PostgreSQL in {pgdata} did not come up; see {pgdata / 'log'}")
    return postmaster


@contextmanager
def _start_lock(folder: Path) -> Iterator[None]:
    """One process at a time starts the server of `folder` (two would race for pgdata)."""
    from pulse.locks import file_lock  # pulse.locks imports this module

    with file_lock(folder / ".start.lock"):
        yield


def _runs_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _start_with_pgserver(pgdata: Path) -> None:
    import pgserver  # imported late: it is slow and only the embedded path needs it

    # cleanup_mode=None: the server outlives this process and is reused by the next one.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    # pgserver caches one handle per folder and would hand it back later without
    # starting anything; with cleanup_mode=None, cleanup() forgets it and stops nothing,
    # so a server stopped by this process can start again in it.
    server.cleanup()


# PostgreSQL refuses to run as root, so as root the server runs as this OS user (pgserver's
# own choice, which `pulse db stop` and existing data folders rely on).
SERVER_USER = "pgserver"
_SOCKET_PATH_MAX = 100  # bytes; Linux allows 107 in a socket path, macOS 103


def _start_as_server_user(pgdata: Path) -> None:
    """initdb and pg_ctl as SERVER_USER, with pgserver's binaries and settings.

    Not through pgserver.get_server, which as root makes every folder above the data
    folder, the wheel's binaries and the socket folder readable by everyone (0755, the
    socket folder 0777) up to `/`. Here the server user gets only what it needs: its data
    folder, and traverse (o+x) on the folders above it and above the binaries that it
    cannot already pass through. Nothing is made readable.
    """
    from pgserver import initdb, pg_ctl

    user = _server_user()
    as_user = _as_server_user(user)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if pgdata.stat().st_uid != user.pw_uid:
        os.chown(pgdata, user.pw_uid, user.pw_gid)
    for folder in (pgdata.parent, pgserver_bin().resolve()):
        _grant_traverse(folder, user)
    if not (pgdata / "PG_VERSION").exists():
        initdb(["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
               pgdata=pgdata, **as_user)
    socket_dir = _socket_dir(pgdata, user)
    pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(pgdata / "log"), "start"],
           pgdata=pgdata, timeout=120, **as_user)


def _as_server_user(user) -> dict[str, Any]:
    """subprocess.run arguments that run a command as `user`, with its group alone: with
    `user=` only, it would keep root's groups, and a folder of group root that others may
    pass through (0701) would stop it."""
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def pgserver_bin() -> Path:
    """The pgserver wheel's PostgreSQL binaries (pgserver does not export their folder)."""
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def _server_user():
    """SERVER_USER's password entry, the user created (without a login shell) if missing."""
    import pwd
    import subprocess

    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--shell", "/usr/sbin/nologin", SERVER_USER],
                       check=True, capture_output=True, text=True)
        return pwd.getpwnam(SERVER_USER)


def _grant_traverse(folder: Path, user) -> None:
    """Lets `user` pass through `folder` and every folder above it: o+x on those it cannot
    pass through yet (logged), nothing on the others, and no read permission anywhere."""
    for path in (folder, *folder.parents):
        info = path.stat()
        if info.st_uid == user.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid == user.pw_gid:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            log.warning("granting others traverse (o+x, not read) on %s: the embedded server "
                        "runs as %s and its data or binaries are below it", path, SERVER_USER)
            path.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)


def _socket_dir(pgdata: Path, user) -> Path:
    """The data folder, unless its socket path would be too long for the OS: then a folder
    of the server user's own under the temporary folder, mode 0700."""
    if len(str(pgdata / ".s.PGSQL.65535").encode()) <= _SOCKET_PATH_MAX:
        return pgdata
    import hashlib
    import tempfile

    tag = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"pulse-pg-{tag}"
    try:
        folder.mkdir(mode=0o700)
        os.chown(folder, user.pw_uid, user.pw_gid)
    except FileExistsError:
        pass
    info = folder.lstat()
    # a folder someone else made (or a symlink) in a shared temporary folder is not ours
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != user.pw_uid or info.st_mode & 0o077:
        raise WarehouseError(f"{folder} (the socket folder of {pgdata}, whose own path is too "
                             f"long for a socket) is not a private folder of {SERVER_USER}: "
                             "remove it, or set PULSE_WAREHOUSE_DIR to a shorter path")
    return folder


def stop() -> bool:
    """Stops the embedded server with pg_ctl; returns False if it was not running."""
    pgdata = data_dir() / "pgdata"
    if _read_postmaster(pgdata) is None:
        return False
    from pgserver import pg_ctl

    # As root, postgres runs as SERVER_USER: pg_ctl must run as that user too.
    as_user = _as_server_user(_server_user()) if _runs_as_root() else {}
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, **as_user)
    for _ in range(50):
        if _read_postmaster(pgdata) is None:
            return True
        time.sleep(0.1)
    raise WarehouseError(f"the embedded PostgreSQL in {pgdata} did not stop; see {pgdata / 'log'}")


def status() -> dict[str, str]:
    """What `pulse db status` prints."""
    if not is_embedded():
        return {"mode": "external (WAREHOUSE_URL)", "url": connection().redacted()}
    pgdata = data_dir() / "pgdata"
    postmaster = _read_postmaster(pgdata)
    if postmaster is None:
        return {"mode": "embedded", "state": "stopped", "data": str(pgdata)}
    return {
        "mode": "embedded",
        "state": "running",
        "pid": str(postmaster.pid),
        "data": str(pgdata),
        "url": connection(start=False).redacted(),  # `pulse db url` prints the password
    }


# --- databases -----------------------------------------------------------------------


def _ensure_database(admin: Connection, name: str) -> None:
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(**dsn(admin))
    conn.autocommit = True  # create database refuses to run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def create_database(name: str) -> Connection:
    """Creates database `name` on the warehouse server if missing; returns its connection."""
    conn = connection()
    _ensure_database(Connection(conn.host, conn.port, conn.user, conn.password, "postgres"), name)
    return connection(name)


def drop_database(name: str) -> None:
    import psycopg2
    from psycopg2 import sql

    conn = connection()
    admin = Connection(conn.host, conn.port, conn.user, conn.password, "postgres")
    pg = psycopg2.connect(**dsn(admin))
    pg.autocommit = True
    try:
        with pg.cursor() as cur:
            cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
    finally:
        pg.close()


def dsn(conn: Connection) -> dict[str, object]:
    """`conn` as psycopg2.connect keywords."""
    return {"host": conn.host, "port": conn.port, "user": conn.user,
            "password": conn.password, "dbname": conn.database}


def psql_executable() -> str:
    """psql from PATH, else the one inside the pgserver wheel."""
    import shutil

    if found := shutil.which("psql"):
        return found
    return str(pgserver_bin() / "psql")


def connect(conn: Connection | None = None):
    """A psycopg2 connection to `conn` (default: the admin's); the caller closes it."""
    import psycopg2

    return psycopg2.connect(**dsn(conn or connection()))


def table_exists(conn: Any, schema: str, table: str) -> bool:
    """Whether `schema.table` exists, on an open psycopg (3) connection; names quoted."""
    from psycopg import sql

    name = sql.Identifier(schema, table).as_string(conn)
    return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]


def query(conn: Connection, sql: Any, params: tuple = ()) -> list[tuple]:
    """Rows of `sql` on `conn` (or [] for a statement without a result), committed.

    Values go in `params`, names through psycopg2.sql: never formatted into the text.
    """
    import psycopg2

    pg = psycopg2.connect(conn.url())
    try:
        with pg, pg.cursor() as cur:
            cur.execute(sql, params or None)  # no params: a literal % stays a %
            return cur.fetchall() if cur.description else []
    finally:
        pg.close()
