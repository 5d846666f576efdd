"""The three database roles Pulse runs as, and the one place their privileges are granted.

- `pulse_loader` (dlt) owns the raw schemas and writes nothing else.
- `pulse_transformer` (dbt) reads the raw datasets and owns dbt's schemas.
- `pulse_analyst` (BI tools, people) reads the marts tables dbt grants it; writes nothing.

`ensure_roles()` runs as the admin (WAREHOUSE_URL's user, or the embedded server's
`postgres`). It only changes what is missing or wrong, so it is cheap enough to run
before every step: a schema dropped by hand, or tables an admin created in a raw
schema, are put right before the next load or build. Neither role may create schemas
(no CREATE on the database): this module creates them, owned by the role that writes
them, and dlt and dbt create only schemas that do not exist yet.

`PULSE_ROLES=off` runs every step as WAREHOUSE_URL's user instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass

from pulse import warehouse
from pulse.warehouse import Connection, WarehouseError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Role:
    key: str  # what callers ask for: roles.url("loader")
    name: str  # the database role
    password_env: str
    duty: str  # for `pulse db roles`


LOADER = Role("loader", "pulse_loader", "PULSE_LOADER_PASSWORD", "loads raw data (dlt)")
TRANSFORMER = Role("transformer", "pulse_transformer", "PULSE_TRANSFORMER_PASSWORD",
                   "builds the dbt models")
ANALYST = Role("analyst", "pulse_analyst", "PULSE_ANALYST_PASSWORD",
               "reads the report marts (BI tools, people)")
ROLES = {role.key: role for role in (LOADER, TRANSFORMER, ANALYST)}

# The upstream systems Pulse loads; each gets the raw schema dlt writes (see
# pipelines.load.raw_dataset).
SOURCES = ("chicago", "worldbank", "oecd")
RAW_PREFIX = "raw_"
# dlt merges through a staging dataset beside the raw one (its default name layout).
DLT_STAGING_SUFFIX = "_staging"
RAW_DATASETS = tuple(f"{RAW_PREFIX}{source}" for source in SOURCES)
RAW_SCHEMAS = tuple(s for d in RAW_DATASETS for s in (d, d + DLT_STAGING_SUFFIX))
# dbt's schemas, as set per folder in dbt_project.yml (generate_schema_name keeps them).
DBT_SCHEMAS = ("staging", "enriched", "marts", "seeds")
MART_SCHEMAS = ("marts",)

# pg_advisory_xact_lock key: concurrent ensure_roles() on one database take turns.
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"pulse.roles").digest()[:8], "big", signed=True)
_OWNER_KEYWORDS = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW",
                   "f": "FOREIGN TABLE", "S": "SEQUENCE"}
# (host, port, role, password digest) set by this process: ALTER ROLE only when it changes.
_passwords_set: set[tuple[str, int, str, str]] = set()


def roles_enabled() -> bool:
    """False when `PULSE_ROLES=off`: every step runs as WAREHOUSE_URL's user."""
    return os.environ.get("PULSE_ROLES", "on").strip().lower() not in ("off", "0", "false", "no")


def role(key: str) -> Role:
    try:
        return ROLES[key]
    except KeyError:
        raise WarehouseError(
            f"unknown role {key!r}; Pulse's roles are {', '.join(ROLES)} (or admin)"
        ) from None


def _env_password(role_: Role) -> str | None:
    return os.environ.get(role_.password_env) or None


def role_connection(admin: Connection, key: str, raw_dataset: str | None = None) -> Connection:
    """The connection of role `key` to `admin`'s database, after `ensure_roles` there.

    On the embedded server (trust authentication) a placeholder password does; on any
    other server the role's password comes from `PULSE_<ROLE>_PASSWORD`.
    """
    role_ = role(key)
    if not roles_enabled():
        return admin
    password = _env_password(role_)
    if password is None:
        if not warehouse.is_embedded_server(admin):
            raise WarehouseError(
                f"Pulse runs this step as the database role {role_.name}: set "
                f"{role_.password_env} to its password (Pulse creates the role with it), "
                "or set PULSE_ROLES=off to run every step as WAREHOUSE_URL's user"
            )
        password = warehouse.EMBEDDED_PASSWORD
    ensure_roles(admin=admin, raw_datasets=(raw_dataset,) if raw_dataset else ())
    return Connection(admin.host, admin.port, role_.name, password, admin.database)


def connection(key: str | None = None, database: str | None = None,
               raw_dataset: str | None = None) -> Connection:
    """The warehouse connection of role `key` ("loader", "transformer", "analyst"), after
    its roles, schemas and grants are ensured in the database; `raw_dataset` is a raw_*
    schema the loader is about to write. None or "admin" is the admin's own connection;
    `PULSE_ROLES=off` returns the admin's for every role."""
    admin = warehouse.connection(database)
    if key in (None, "admin"):
        return admin
    return role_connection(admin, key, raw_dataset=raw_dataset)


def url(key: str | None = None, database: str | None = None,
        raw_dataset: str | None = None) -> str:
    """`connection(...)` as a postgresql:// URL that psql, dlt and psycopg accept."""
    return connection(key, database, raw_dataset).url()


def connect(key: str | None = None, database: str | None = None):
    """A psycopg2 connection as role `key` (the caller closes it)."""
    return warehouse.connect(connection(key, database))


def export_env(key: str | None = None, database: str | None = None) -> Connection:
    """Points the PG* variables at role `key`'s connection, so dbt and child processes follow."""
    return warehouse.export_env(connection(key, database))


# --- ensure_roles -------------------------------------------------------------------------


class _Changes:
    """Runs statements and remembers them, passwords masked, for the caller to show."""

    def __init__(self, cur) -> None:
        self.cur = cur
        self.done: list[str] = []

    def run(self, statement, params: tuple | None = None, shown: str | None = None) -> None:
        self.cur.execute(statement, params)
        self.done.append(shown or statement.as_string(self.cur))

    def rows(self, query: str, params: tuple | None = None) -> list[tuple]:
        self.cur.execute(query, params)
        return self.cur.fetchall()


def ensure_roles(database: str | None = None, *, admin: Connection | None = None,
                 raw_datasets: tuple[str, ...] = ()) -> list[str]:
    """Creates the roles, schemas and grants that are missing in `database`.

    Idempotent: returns the statements it ran (passwords masked), [] when all was in
    place. `raw_datasets` are extra raw_* datasets to create for the loader (a dlt
    pipeline loading a dataset not in RAW_DATASETS).
    """
    import psycopg2
    from psycopg2 import errors

    admin = admin or warehouse.connection(database)
    for dataset in raw_datasets:
        if not dataset.startswith(RAW_PREFIX) or dataset.endswith(DLT_STAGING_SUFFIX):
            raise WarehouseError(
                f"the loader writes only raw schemas ({RAW_PREFIX}<source>), not {dataset!r}"
            )
    for attempt in range(5):
        try:
            pg = psycopg2.connect(**warehouse.dsn(admin))
        except psycopg2.OperationalError as err:
            raise WarehouseError(f"could not connect to {admin.redacted()}: {err}") from err
        try:
            with pg, pg.cursor() as cur:
                cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                changes = _Changes(cur)
                passwords = _ensure_cluster(changes, admin)
                _ensure_database(changes, admin.database, raw_datasets)
            _passwords_set.update(passwords)  # committed
            for statement in changes.done:
                log.info("roles: %s", statement)
            return changes.done
        except (errors.DuplicateObject, errors.UniqueViolation, errors.DuplicateSchema,
                errors.InternalError_) as err:
            # Another process created the same role or schema, or granted on the same
            # catalog row ("tuple concurrently updated") at the same moment: look again.
            if attempt == 4 or (isinstance(err, errors.InternalError_)
                                and "concurrently" not in str(err)):
                raise
            time.sleep(0.05 * (attempt + 1))
        except psycopg2.Error as err:
            first_line = (err.pgerror or str(err)).strip().splitlines()[0]
            raise WarehouseError(
                f"could not set up Pulse's database roles as {admin.user}: {first_line}. "
                "That user must own the database and may create roles (CREATEROLE); "
                "or set PULSE_ROLES=off to run every step as WAREHOUSE_URL's user"
            ) from err
        finally:
            pg.close()
    raise AssertionError("unreachable")


def _ensure_cluster(changes: _Changes, admin: Connection) -> set[tuple[str, int, str, str]]:
    """The three roles exist, may log in, carry their passwords; the admin may act as them."""
    from psycopg2 import sql
    from psycopg2.extensions import encrypt_password

    existing = {name: (login, superuser) for name, login, superuser in changes.rows(
        "select rolname, rolcanlogin, rolsuper or rolbypassrls from pg_roles "
        "where rolname = any(%s)", ([r.name for r in ROLES.values()],))}
    embedded = warehouse.is_embedded_server(admin)
    missing_passwords = [r.password_env for r in ROLES.values()
                         if r.name not in existing and not _env_password(r)]
    if missing_passwords and not embedded:
        raise WarehouseError(
            f"Pulse creates the database roles {', '.join(r.name for r in ROLES.values())}: "
            f"set {', '.join(missing_passwords)} to their passwords, or set PULSE_ROLES=off "
            "to run every step as WAREHOUSE_URL's user"
        )
    passwords = set()
    for role_ in ROLES.values():
        name = sql.Identifier(role_.name)
        if role_.name not in existing:
            changes.run(sql.SQL("CREATE ROLE {} LOGIN").format(name))
        elif not existing[role_.name][0] or existing[role_.name][1]:
            changes.run(sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS").format(name))
        if password := _env_password(role_):
            key = (admin.host, admin.port, role_.name,
                   hashlib.sha256(password.encode()).hexdigest())
            if key not in _passwords_set:
                # Hashed here (the server's password_encryption): the clear text never
                # reaches the server, its statement log or pg_stat_activity.
                verifier = encrypt_password(password, role_.name, changes.cur.connection)
                changes.run(sql.SQL("ALTER ROLE {} PASSWORD %s").format(name), (verifier,),
                            shown=f"ALTER ROLE {role_.name} PASSWORD '***'")
                passwords.add(key)

    (superuser, version), = changes.rows(
        "select rolsuper, current_setting('server_version_num')::int from pg_roles "
        "where rolname = current_user")
    if not superuser:
        # A CREATEROLE admin must be able to SET ROLE to a role to give it schemas.
        option = "SET" if version >= 160000 else "MEMBER"
        for role_ in ROLES.values():
            (member,), = changes.rows("select pg_has_role(current_user, %s, %s)",
                                      (role_.name, option))
            if not member:
                changes.run(sql.SQL("GRANT {} TO CURRENT_USER").format(
                    sql.Identifier(role_.name)))
    return passwords


def _acl(changes: _Changes, query: str, params: tuple) -> set[tuple[int, str]]:
    return {(grantee, privilege) for grantee, privilege in changes.rows(query, params)}


def _ensure_database(changes: _Changes, database: str, extra_raw: tuple[str, ...]) -> None:
    from psycopg2 import sql

    oids = dict(changes.rows("select rolname, oid from pg_roles where rolname = any(%s)",
                             ([r.name for r in ROLES.values()],)))
    db = sql.Identifier(database)

    # The database: nobody else creates schemas or temp tables; the three may connect.
    acl = _acl(changes,
               "select a.grantee, a.privilege_type from pg_database d, "
               "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
               "where d.datname = current_database()", ())
    public = [p for p in ("CREATE", "TEMPORARY") if (0, p) in acl]
    if public:
        changes.run(sql.SQL("REVOKE {} ON DATABASE {} FROM PUBLIC").format(
            sql.SQL(", ").join(map(sql.SQL, public)), db))
    # dbt's incremental models and dlt's merges of nested tables use temp tables.
    wanted = {LOADER: ("CONNECT", "TEMPORARY"), TRANSFORMER: ("CONNECT", "TEMPORARY"),
              ANALYST: ("CONNECT",)}
    for role_, privileges in wanted.items():
        grant = [p for p in privileges if (oids[role_.name], p) not in acl]
        if grant:
            changes.run(sql.SQL("GRANT {} ON DATABASE {} TO {}").format(
                sql.SQL(", ").join(map(sql.SQL, grant)), db, sql.Identifier(role_.name)))
    public_schema = _acl(changes,
                         "select a.grantee, a.privilege_type from pg_namespace n, "
                         "aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a "
                         "where n.nspname = 'public'", ())
    if (0, "CREATE") in public_schema:  # PostgreSQL < 15 lets everyone create in public
        changes.run(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))

    # Schemas, owned by the role that writes them, and what is inside them too
    # (deployments before the roles created everything as the admin).
    loader_raw = [s for (s,) in changes.rows(
        "select nspname from pg_namespace where nspowner = %s and nspname like %s "
        "and nspname not like %s",
        (oids[LOADER.name], RAW_PREFIX.replace("_", r"\_") + "%",
         "%" + DLT_STAGING_SUFFIX.replace("_", r"\_")))]
    raw_datasets = sorted({*RAW_DATASETS, *extra_raw, *loader_raw})
    raw_schemas = [s for d in raw_datasets for s in (d, d + DLT_STAGING_SUFFIX)]
    owners = {**dict.fromkeys(raw_schemas, LOADER), **dict.fromkeys(DBT_SCHEMAS, TRANSFORMER)}
    existing = dict(changes.rows("select nspname, nspowner from pg_namespace "
                                 "where nspname = any(%s)", (list(owners),)))
    for schema, owner in owners.items():
        if schema not in existing:
            changes.run(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                sql.Identifier(schema), sql.Identifier(owner.name)))
        elif existing[schema] != oids[owner.name]:
            changes.run(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                sql.Identifier(schema), sql.Identifier(owner.name)))
    # Tables before sequences: a serial's sequence follows its table.
    for kinds in (["r", "p", "v", "m", "f"], ["S"]):
        for schema, name, kind, owner in changes.rows(
            "select n.nspname, c.relname, c.relkind::text, w.owner "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "join unnest(%s::text[], %s::text[]) as w (schema, owner) on w.schema = n.nspname "
            "where c.relkind::text = any(%s) and c.relowner <> w.owner::regrole "
            "and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass "
            "  and d.objid = c.oid and d.deptype in ('a', 'i')) "
            "order by 1, 2",
            (list(owners), [o.name for o in owners.values()], kinds),
        ):
            changes.run(sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(_OWNER_KEYWORDS[kind]), sql.Identifier(schema, name),
                sql.Identifier(owner)))

    # The transformer reads the raw datasets (not dlt's staging): tables there now and
    # the ones the loader creates later.
    transformer = sql.Identifier(TRANSFORMER.name)
    for schema in raw_datasets:
        (usage,), = changes.rows("select has_schema_privilege(%s, %s, 'USAGE')",
                                 (TRANSFORMER.name, schema))
        if not usage:
            changes.run(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), transformer))
    for schema, name in changes.rows(
        "select n.nspname, c.relname from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f') "
        "and not has_table_privilege(%s, c.oid, 'SELECT') order by 1, 2",
        (raw_datasets, TRANSFORMER.name),
    ):
        changes.run(sql.SQL("GRANT SELECT ON {} TO {}").format(
            sql.Identifier(schema, name), transformer))
    defaults = {s for (s,) in changes.rows(
        "select n.nspname from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace, "
        "aclexplode(d.defaclacl) a where d.defaclrole = %s and d.defaclobjtype = 'r' "
        "and a.grantee = %s and a.privilege_type = 'SELECT'",
        (oids[LOADER.name], oids[TRANSFORMER.name]))}
    for schema in raw_datasets:
        if schema not in defaults:
            changes.run(sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
            ).format(sql.Identifier(LOADER.name), sql.Identifier(schema), transformer))

    # The analyst may look into the marts schemas; dbt's `grants` give it each table.
    for schema in MART_SCHEMAS:
        (usage,), = changes.rows("select has_schema_privilege(%s, %s, 'USAGE')",
                                 (ANALYST.name, schema))
        if not usage:
            changes.run(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), sql.Identifier(ANALYST.name)))


def describe(raw_datasets: tuple[str, ...] = RAW_DATASETS) -> dict[str, str]:
    """What each role may do, for `pulse db roles`."""
    raw = ", ".join(raw_datasets)
    raw_all = ", ".join(s for d in raw_datasets for s in (d, d + DLT_STAGING_SUFFIX))
    return {
        LOADER.name: f"{LOADER.duty}: owns and writes {raw_all}; cannot see dbt's schemas",
        TRANSFORMER.name: f"{TRANSFORMER.duty}: reads {raw}; owns and writes "
                          f"{', '.join(DBT_SCHEMAS)}; cannot write raw",
        ANALYST.name: f"{ANALYST.duty}: reads the tables in {', '.join(MART_SCHEMAS)} "
                      "(granted by dbt); writes nothing, creates nothing",
    }
