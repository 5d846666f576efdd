"""The three database roles Pulse runs as, and the one place their privileges are granted.

- `<prefix>loader` (dlt) owns the raw schemas and writes nothing else.
- `<prefix>transformer` (dbt) reads the plain tables of the raw datasets and owns dbt's schemas.
- `<prefix>analyst` (BI tools, people) reads the marts tables dbt grants it; writes nothing.

The prefix is the database's name (`pulse_loader` in database `pulse`), or
`PULSE_ROLE_PREFIX`: two Pulse databases on one server never share a role, and each
role may connect to its own database only.

`ensure_roles()` runs as the admin (WAREHOUSE_URL's user, or the embedded server's
`postgres`): `pulse db roles` and set-up run it, and so does every step that was given
the admin's URL, since it only changes what is missing or wrong: a schema dropped by
hand, or tables an admin created in a raw schema, are put right before the next load
or build. It never changes the password of a role that exists (`pulse db roles
--set-passwords` does, on purpose). A step given its role's own URL
(`PULSE_<ROLE>_URL`) needs no admin at all. Neither role may create schemas (no
CREATE on the database): this module creates them, owned by the role that writes
them, and dlt and dbt create only schemas that do not exist yet.

`PULSE_ROLES=off` runs every step as WAREHOUSE_URL's user instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass, replace

from pulse import warehouse
from pulse.warehouse import Connection, WarehouseError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Role:
    key: str  # what callers ask for: roles.url("loader"); the role's name ends with it
    duty: str  # for `pulse db roles`

    @property
    def password_env(self) -> str:
        return f"PULSE_{self.key.upper()}_PASSWORD"

    @property
    def url_env(self) -> str:
        """The role's own URL: a step given it needs no admin credentials."""
        return f"PULSE_{self.key.upper()}_URL"

    def name(self, database: str) -> str:
        """The role's name on the server: its own URL's user, else prefix + key."""
        if own := os.environ.get(self.url_env):
            return Connection.from_url(own).user
        return role_prefix(database) + self.key


LOADER = Role("loader", "loads raw data (dlt)")
TRANSFORMER = Role("transformer", "builds the dbt models")
ANALYST = Role("analyst", "reads the report marts (BI tools, people)")
ROLES = {role.key: role for role in (LOADER, TRANSFORMER, ANALYST)}

# The upstream systems Pulse loads; each gets the raw schema dlt writes (see
# pipelines.load.raw_dataset).
SOURCES = ("chicago", "worldbank", "oecd", "events", "logs")
RAW_PREFIX = "raw_"
# dlt merges through a staging dataset beside the raw one (its default name layout).
DLT_STAGING_SUFFIX = "_staging"
RAW_DATASETS = tuple(f"{RAW_PREFIX}{source}" for source in SOURCES)
RAW_SCHEMAS = tuple(s for d in RAW_DATASETS for s in (d, d + DLT_STAGING_SUFFIX))
# dbt's schemas, as set per folder in dbt_project.yml (generate_schema_name keeps them).
DBT_SCHEMAS = ("staging", "enriched", "marts", "seeds", "ops")
# What the analyst may look into: the report marts, and dbt's record of its last results
# (ops.dbt_results, dbt_project/macros/run_results.sql: refreshed-at, failing tests).
MART_SCHEMAS = ("marts", "ops")

# pg_advisory_xact_lock key: concurrent ensure_roles() on one database take turns.
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"pulse.roles").digest()[:8], "big", signed=True)
_OWNER_KEYWORDS = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW",
                   "f": "FOREIGN TABLE", "S": "SEQUENCE"}
# A role name is at most 63 bytes; "transformer" takes 11 of them.
_MAX_PREFIX = 50


def roles_enabled() -> bool:
    """False when `PULSE_ROLES=off`: every step runs as WAREHOUSE_URL's user."""
    return os.environ.get("PULSE_ROLES", "on").strip().lower() not in ("off", "0", "false", "no")


def role_prefix(database: str) -> str:
    """`PULSE_ROLE_PREFIX`, else `<database>_`: lower case letters, digits and `_`."""
    prefix = re.sub(r"[^a-z0-9_]", "_", (os.environ.get("PULSE_ROLE_PREFIX")
                                         or f"{database}_").lower())
    if len(prefix) > _MAX_PREFIX:  # still one prefix per database: keep a digest of it
        prefix = prefix[:_MAX_PREFIX - 9] + hashlib.sha256(prefix.encode()).hexdigest()[:8] + "_"
    return prefix


def role(key: str) -> Role:
    try:
        return ROLES[key]
    except KeyError:
        raise WarehouseError(
            f"unknown role {key!r}; Pulse's roles are {', '.join(ROLES)} (or admin)"
        ) from None


def role_name(key: str, database: str | None = None) -> str:
    """The name of role `key` in `database` (default: the warehouse's)."""
    return role(key).name(database or warehouse.connection().database)


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
                f"Pulse runs this step as the database role {role_.name(admin.database)}: set "
                f"{role_.url_env} to its URL, or {role_.password_env} to its password (Pulse "
                "creates the role with it), or set PULSE_ROLES=off to run every step as "
                "WAREHOUSE_URL's user"
            )
        password = warehouse.EMBEDDED_PASSWORD
    ensure_roles(admin=admin, raw_datasets=(raw_dataset,) if raw_dataset else ())
    return Connection(admin.host, admin.port, role_.name(admin.database), password,
                      admin.database)


def own_connection(key: str, database: str | None = None) -> Connection | None:
    """Role `key`'s connection from its own URL (`PULSE_<ROLE>_URL`), if it was given."""
    own = os.environ.get(role(key).url_env)
    if not own:
        return None
    conn = Connection.from_url(own)
    return replace(conn, database=database) if database else conn


def connection(key: str | None = None, database: str | None = None,
               raw_dataset: str | None = None) -> Connection:
    """The warehouse connection of role `key` ("loader", "transformer", "analyst").

    From the role's own URL (`PULSE_<ROLE>_URL`) when given: no admin credentials are
    needed, and nothing is ensured. Otherwise from the admin's, after the roles, schemas
    and grants are ensured in the database; `raw_dataset` is a raw_* schema the loader
    is about to write. None or "admin" is the admin's own connection; `PULSE_ROLES=off`
    returns the admin's for every role."""
    if key not in (None, "admin") and roles_enabled() and (own := own_connection(key, database)):
        return own
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


def drop_database(database: str) -> None:
    """Drops `database` and, when they are named after it, its roles (test and scratch
    databases: roles are cluster-wide and would outlive them)."""
    from psycopg2 import errors, sql

    warehouse.drop_database(database)
    if os.environ.get("PULSE_ROLE_PREFIX"):
        return  # roles shared by every database of this prefix
    for role_ in ROLES.values():
        try:
            warehouse.query(warehouse.connection("postgres"),
                            sql.SQL("drop role if exists {}").format(
                                sql.Identifier(role_prefix(database) + role_.key)))
        except errors.DependentObjectsStillExist as err:  # privileges elsewhere: keep it
            log.warning("kept role %s%s: %s", role_prefix(database), role_.key, err)


def dbt_vars(database: str) -> dict[str, str]:
    """What dbt_project.yml reads of the roles: whom the marts are granted to."""
    return {"PULSE_ANALYST_ROLE": ANALYST.name(database)}


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
                 raw_datasets: tuple[str, ...] = (), set_passwords: bool = False) -> list[str]:
    """Creates the roles, schemas and grants that are missing in `database`.

    Idempotent: returns the statements it ran (passwords masked), [] when all was in
    place. `raw_datasets` are extra raw_* datasets to create for the loader (a dlt
    pipeline loading a dataset not in RAW_DATASETS). A role is created with the password
    in its `PULSE_<ROLE>_PASSWORD`; an existing role's password changes only with
    `set_passwords` (`pulse db roles --set-passwords`), never as a side effect of a step.
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
                _ensure_cluster(changes, admin, set_passwords)
                _ensure_database(changes, admin.database, raw_datasets)
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


def _ensure_cluster(changes: _Changes, admin: Connection, set_passwords: bool) -> None:
    """The three roles exist and may log in; the admin may act as them."""
    from psycopg2 import sql
    from psycopg2.extensions import encrypt_password

    names = {r.key: r.name(admin.database) for r in ROLES.values()}
    existing = {name: (login, superuser) for name, login, superuser in changes.rows(
        "select rolname, rolcanlogin, rolsuper or rolbypassrls from pg_roles "
        "where rolname = any(%s)", (list(names.values()),))}
    embedded = warehouse.is_embedded_server(admin)
    missing_passwords = [r.password_env for r in ROLES.values()
                         if names[r.key] not in existing and not _env_password(r)]
    if missing_passwords and not embedded:
        raise WarehouseError(
            f"Pulse creates the database roles {', '.join(names.values())}: "
            f"set {', '.join(missing_passwords)} to their passwords, or set PULSE_ROLES=off "
            "to run every step as WAREHOUSE_URL's user"
        )
    for role_ in ROLES.values():
        name = names[role_.key]
        password = _env_password(role_)
        # Hashed here (the server's password_encryption): the clear text never reaches
        # the server, its statement log or pg_stat_activity.
        verifier = encrypt_password(password, name, changes.cur.connection) if password else None
        if name not in existing:
            changes.run(sql.SQL("CREATE ROLE {} LOGIN" + (" PASSWORD %s" if verifier else ""))
                        .format(sql.Identifier(name)), (verifier,) if verifier else None,
                        shown=f"CREATE ROLE {name} LOGIN" + (" PASSWORD '***'" if verifier else ""))
            continue
        if not existing[name][0] or existing[name][1]:
            changes.run(sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS").format(
                sql.Identifier(name)))
        if set_passwords and verifier:
            changes.run(sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(name)),
                        (verifier,), shown=f"ALTER ROLE {name} PASSWORD '***'")

    (superuser, version), = changes.rows(
        "select rolsuper, current_setting('server_version_num')::int from pg_roles "
        "where rolname = current_user")
    if not superuser:
        # A CREATEROLE admin must be able to SET ROLE to a role to give it schemas.
        option = "SET" if version >= 160000 else "MEMBER"
        for name in names.values():
            (member,), = changes.rows("select pg_has_role(current_user, %s, %s)", (name, option))
            if not member:
                changes.run(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(name)))


def _acl(changes: _Changes, query: str, params: tuple) -> set[tuple[int, str]]:
    return {(grantee, privilege) for grantee, privilege in changes.rows(query, params)}


def _ensure_database(changes: _Changes, database: str, extra_raw: tuple[str, ...]) -> None:
    from psycopg2 import sql

    n = {r: r.name(database) for r in ROLES.values()}
    oids = dict(changes.rows("select rolname, oid from pg_roles where rolname = any(%s)",
                             (list(n.values()),)))
    db = sql.Identifier(database)

    # The database: only the three may connect (no other database's roles), nobody else
    # creates schemas or temp tables.
    acl = _acl(changes,
               "select a.grantee, a.privilege_type from pg_database d, "
               "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
               "where d.datname = current_database()", ())
    public = [p for p in ("CONNECT", "CREATE", "TEMPORARY") if (0, p) in acl]
    if public:
        changes.run(sql.SQL("REVOKE {} ON DATABASE {} FROM PUBLIC").format(
            sql.SQL(", ").join(map(sql.SQL, public)), db))
    # dbt's incremental models and dlt's merges of nested tables use temp tables.
    wanted = {LOADER: ("CONNECT", "TEMPORARY"), TRANSFORMER: ("CONNECT", "TEMPORARY"),
              ANALYST: ("CONNECT",)}
    for role_, privileges in wanted.items():
        grant = [p for p in privileges if (oids[n[role_]], p) not in acl]
        if grant:
            changes.run(sql.SQL("GRANT {} ON DATABASE {} TO {}").format(
                sql.SQL(", ").join(map(sql.SQL, grant)), db, sql.Identifier(n[role_])))
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
        (oids[n[LOADER]], RAW_PREFIX.replace("_", r"\_") + "%",
         "%" + DLT_STAGING_SUFFIX.replace("_", r"\_")))]
    raw_datasets = sorted({*RAW_DATASETS, *extra_raw, *loader_raw})
    raw_schemas = [s for d in raw_datasets for s in (d, d + DLT_STAGING_SUFFIX)]
    owners = {**dict.fromkeys(raw_schemas, LOADER), **dict.fromkeys(DBT_SCHEMAS, TRANSFORMER)}
    existing = dict(changes.rows("select nspname, nspowner from pg_namespace "
                                 "where nspname = any(%s)", (list(owners),)))
    for schema, owner in owners.items():
        if schema not in existing:
            changes.run(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                sql.Identifier(schema), sql.Identifier(n[owner])))
        elif existing[schema] != oids[n[owner]]:
            changes.run(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                sql.Identifier(schema), sql.Identifier(n[owner])))
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
            (list(owners), [n[o] for o in owners.values()], kinds),
        ):
            changes.run(sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(_OWNER_KEYWORDS[kind]), sql.Identifier(schema, name),
                sql.Identifier(owner)))

    # The transformer reads the plain tables of the raw datasets (not dlt's staging):
    # those there now and those the loader creates later. Never what the loader could
    # make run as the transformer (a view calling its function): check_raw_schemas
    # refuses a build while a raw schema holds one.
    transformer = sql.Identifier(n[TRANSFORMER])
    for schema in raw_datasets:
        (usage,), = changes.rows("select has_schema_privilege(%s, %s, 'USAGE')",
                                 (n[TRANSFORMER], schema))
        if not usage:
            changes.run(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), transformer))
    for schema, name in changes.rows(
        "select n.nspname, c.relname from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = any(%s) and c.relkind in ('r', 'p') "
        "and not has_table_privilege(%s, c.oid, 'SELECT') order by 1, 2",
        (raw_datasets, n[TRANSFORMER]),
    ):
        changes.run(sql.SQL("GRANT SELECT ON {} TO {}").format(
            sql.Identifier(schema, name), transformer))
    for schema, name in changes.rows(  # the default privileges cover views too
        "select n.nspname, c.relname from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = any(%s) and c.relkind in ('v', 'm', 'f') "
        "and has_table_privilege(%s, c.oid, 'SELECT') order by 1, 2",
        (raw_datasets, n[TRANSFORMER]),
    ):
        changes.run(sql.SQL("REVOKE ALL ON {} FROM {}").format(
            sql.Identifier(schema, name), transformer))
    defaults = {s for (s,) in changes.rows(
        "select n.nspname from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace, "
        "aclexplode(d.defaclacl) a where d.defaclrole = %s and d.defaclobjtype = 'r' "
        "and a.grantee = %s and a.privilege_type = 'SELECT'",
        (oids[n[LOADER]], oids[n[TRANSFORMER]]))}
    for schema in raw_datasets:
        if schema not in defaults:
            changes.run(sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
            ).format(sql.Identifier(n[LOADER]), sql.Identifier(schema), transformer))

    # The analyst may look into the marts schemas; dbt's `grants` give it each table.
    for schema in MART_SCHEMAS:
        (usage,), = changes.rows("select has_schema_privilege(%s, %s, 'USAGE')",
                                 (n[ANALYST], schema))
        if not usage:
            changes.run(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), sql.Identifier(n[ANALYST])))


def describe(database: str, raw_datasets: tuple[str, ...] = RAW_DATASETS) -> dict[str, str]:
    """What each role may do, for `pulse db roles`, by role name."""
    raw = ", ".join(raw_datasets)
    raw_all = ", ".join(s for d in raw_datasets for s in (d, d + DLT_STAGING_SUFFIX))
    return {
        LOADER.name(database): f"{LOADER.duty}: owns and writes {raw_all}; cannot see "
                               "dbt's schemas",
        TRANSFORMER.name(database): f"{TRANSFORMER.duty}: reads the tables of {raw}; owns "
                                    f"and writes {', '.join(DBT_SCHEMAS)}; cannot write raw",
        ANALYST.name(database): f"{ANALYST.duty}: reads the tables in "
                                f"{', '.join(MART_SCHEMAS)} (granted by dbt); writes "
                                "nothing, creates nothing",
    }


# --- what dbt may read ----------------------------------------------------------------------

# Objects in a raw schema that would run code as whoever reads it. dlt creates tables
# (and their indexes and row types) only; anything else there was made by someone else.
_FOREIGN_OBJECTS = r"""
select 'function', p.oid::regprocedure::text from pg_proc p
  join pg_namespace n on n.oid = p.pronamespace where n.nspname like 'raw\_%'
union all
select case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
       else 'foreign table' end, format('%I.%I', n.nspname, c.relname)
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname like 'raw\_%' and c.relkind in ('v', 'm', 'f')
union all
select 'trigger', format('%I on %I.%I', t.tgname, n.nspname, c.relname) from pg_trigger t
  join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
  where n.nspname like 'raw\_%' and not t.tgisinternal
union all
select 'rule', format('%I on %I.%I', r.rulename, n.nspname, c.relname) from pg_rewrite r
  join pg_class c on c.oid = r.ev_class join pg_namespace n on n.oid = c.relnamespace
  where n.nspname like 'raw\_%' and c.relkind in ('r', 'p')
union all
select 'policy', format('%I on %I.%I', p.polname, n.nspname, c.relname) from pg_policy p
  join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
  where n.nspname like 'raw\_%'
union all
select 'row level security', format('%I.%I', n.nspname, c.relname) from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  where n.nspname like 'raw\_%' and c.relrowsecurity
union all
select 'operator', format('%I.%s', n.nspname, o.oprname) from pg_operator o
  join pg_namespace n on n.oid = o.oprnamespace where n.nspname like 'raw\_%'
union all
select case t.typtype when 'd' then 'domain' when 'e' then 'enum' when 'r' then 'range'
       else 'type' end, format('%I.%I', n.nspname, t.typname) from pg_type t
  join pg_namespace n on n.oid = t.typnamespace
  where n.nspname like 'raw\_%' and t.typtype in ('b', 'd', 'e', 'r', 'm', 'p')
    and t.typcategory <> 'A'  -- a table's array type; an array of another type lists that
order by 1, 2
"""


def foreign_raw_objects(conn: Connection) -> list[tuple[str, str]]:
    """(kind, name) of every object in a raw schema that Pulse does not create."""
    return [tuple(row) for row in warehouse.query(conn, _FOREIGN_OBJECTS)]


def check_raw_schemas(conn: Connection) -> None:
    """Refuses a dbt build while a raw schema holds what could run code as its reader.

    The loader owns the raw schemas, so whoever holds its credentials could put a
    function behind a view, a trigger, a rule or a row security policy there; dbt,
    running as the transformer (which writes the marts analysts read), would run it.
    `conn` may be any role's: the catalogs are readable by all.
    """
    if not roles_enabled():
        return
    found = foreign_raw_objects(conn)
    if found:
        listed = "; ".join(f"{kind} {name}" for kind, name in found[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        raise WarehouseError(
            f"refusing to run dbt: the raw schemas hold objects Pulse does not create, which "
            f"could run code as the transformer: {listed}{more}. Pulse's loader creates "
            "tables only. Find out who made them (the loader's credentials may be in other "
            "hands), drop them as an admin, then build again"
        )
