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
import time
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
    import pgserver  # imported late: it is slow and only the embedded path needs it

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting the embedded PostgreSQL in %s", pgdata)
    try:
        # cleanup_mode=None: the server outlives this process and is reused by the next one.
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        # pgserver caches one handle per folder and would hand it back later without
        # starting anything; with cleanup_mode=None, cleanup() forgets it and stops nothing,
        # so a server stopped by this process can start again in it.
        server.cleanup()
    except Exception as err:
        raise WarehouseError(
            f"could not start the embedded PostgreSQL in {pgdata}: {err}. "
            f"Its log is {pgdata / 'log'}; set WAREHOUSE_URL to use another server."
        ) from err
    postmaster = _read_postmaster(pgdata)
    if postmaster is None:
        raise WarehouseError(f"the embedded PostgreSQL in {pgdata} did not come up; see {pgdata / 'log'}")
    return postmaster


def stop() -> bool:
    """Stops the embedded server with pg_ctl; returns False if it was not running."""
    pgdata = data_dir() / "pgdata"
    if _read_postmaster(pgdata) is None:
        return False
    from pgserver import pg_ctl

    # As root, pgserver runs postgres as its own OS user: pg_ctl must run as that user too.
    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
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
        "url": connection(start=False).url(),
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
    from pgserver import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / "psql")


def connect(conn: Connection | None = None):
    """A psycopg2 connection to `conn` (default: the admin's); the caller closes it."""
    import psycopg2

    return psycopg2.connect(**dsn(conn or connection()))


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
