"""Each database role does its job and nothing more, proven with PostgreSQL's own errors.

A real load (as the loader) and `dbt build` (as the transformer) fill the test
database; then every boundary is tried as each role over its own connection. Writes
that are allowed run inside a transaction that is rolled back, and use `where false`
where they can: PostgreSQL checks privileges before it looks at a single row.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from psycopg2 import errors

from pipelines.chicago import dataset_pipeline, load_chicago, load_dataset
from pipelines.geo import geocode
from pulse import roles, warehouse
from sample_api import SampleApi, chicago_portal
from tests.conftest import TEST_DATABASE, query, run_dbt

ROWS = 2_000
DAILY = "marts.rpt_chicago__crimes_daily_trend"

PULSE = str(Path(sys.executable).with_name("pulse"))
pytestmark = pytest.mark.skipif(not roles.roles_enabled(), reason="PULSE_ROLES=off")
# This database's roles: named after it, so no other database's roles share them.
LOADER, TRANSFORMER, ANALYST = (roles.role_name(key, TEST_DATABASE)
                                for key in ("loader", "transformer", "analyst"))


@pytest.fixture(scope="module")
def built(warehouse_db, dbt_manifest, tmp_path_factory) -> dict:
    """A warehouse from scratch: load as the loader, build as the transformer."""
    for schema in (*roles.RAW_SCHEMAS, *roles.DBT_SCHEMAS):
        query(warehouse_db, f"drop schema if exists {schema} cascade")  # names are constants
    dlt_dir = tmp_path_factory.mktemp("dlt")
    pipeline = dataset_pipeline("crimes", pipelines_dir=dlt_dir)
    with SampleApi(chicago_portal(rows=ROWS, seed=11)) as api:
        info = load_dataset("crimes", pipeline, base_url=api.url, backoff_factor=0)  # no credentials
        others = [d for d in chicago_portal_tables() if d != "crimes"]
        load_chicago(others, pipelines_dir=dlt_dir, base_url=api.url, backoff_factor=0)
    geocode()  # as the loader, by default
    raw_owners = owners(warehouse_db, "raw_chicago")  # before anything else touches them
    build = run_dbt("build", "--full-refresh")
    assert build.returncode == 0, build.stdout[-4000:]
    return {"load": info, "raw_owners": raw_owners}


def chicago_portal_tables() -> list[str]:
    from pipelines.chicago.settings import load_datasets

    return list(load_datasets())


def owners(conn, schema: str) -> dict[str, str]:
    return dict(query(conn, "select c.relname, pg_get_userbyid(c.relowner) from pg_class c "
                            "join pg_namespace n on n.oid = c.relnamespace "
                            "where n.nspname = %s and c.relkind in ('r', 'v', 'm')", (schema,)))


def as_role(role: str, statement: str, params: tuple | None = None) -> list[tuple] | None:
    """Runs `statement` over `role`'s own connection; rolls back whatever it did."""
    pg = roles.connect(role)
    try:
        with pg.cursor() as cur:
            cur.execute("select current_user")
            assert cur.fetchone()[0] == roles.role_name(role, TEST_DATABASE)
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None
    finally:
        pg.rollback()
        pg.close()


def denied(role: str, statement: str) -> str:
    """PostgreSQL's message when `role` runs `statement`; fails unless it is refused."""
    with pytest.raises(errors.InsufficientPrivilege) as refused:
        as_role(role, statement)
    assert refused.value.pgcode == "42501"
    return refused.value.pgerror.splitlines()[0].removeprefix("ERROR:  ")


# --- the pipeline runs with the least role per step ----------------------------------------


def test_pipeline_loads_as_loader_and_builds_as_transformer(built, warehouse_db):
    assert LOADER in built["load"].destination_displayable_credentials
    assert set(built["raw_owners"].values()) == {LOADER}
    assert "crimes" in built["raw_owners"]
    for schema in ("staging", "enriched", "marts", "seeds"):
        assert set(owners(warehouse_db, schema).values()) == {TRANSFORMER}, schema
    # and the analyst reads the result
    assert as_role("analyst", f"select sum(crime_count) from {DAILY}") == [(ROWS,)]


def test_nothing_left_to_ensure_after_a_run(built):
    assert roles.ensure_roles(TEST_DATABASE) == []


# --- loader ---------------------------------------------------------------------------------


def test_loader_writes_raw(built):
    as_role("loader", "insert into raw_chicago.crimes select * from raw_chicago.crimes where false")
    as_role("loader", "update raw_chicago.crimes set id = id where false")
    as_role("loader", "delete from raw_chicago.crimes where false")
    as_role("loader", "create table raw_chicago.loader_scratch (i int)")
    as_role("loader", "create table raw_chicago_staging.loader_scratch (i int)")


@pytest.mark.parametrize(("statement", "message"), [
    (f"select * from {DAILY}", "permission denied for schema marts"),
    ("select * from staging.stg_chicago__crimes", "permission denied for schema staging"),
    ("select * from enriched.int_chicago__crimes_enriched",
     "permission denied for schema enriched"),
    ("create table marts.loader_scratch (i int)", "permission denied for schema marts"),
    ("create table staging.loader_scratch (i int)", "permission denied for schema staging"),
    ("create table public.loader_scratch (i int)", "permission denied for schema public"),
    ("create schema loader_scratch", "permission denied for database {database}"),
])
def test_loader_cannot_touch_dbt_schemas(built, statement, message):
    assert denied("loader", statement) == message.format(database=TEST_DATABASE)


# --- transformer ----------------------------------------------------------------------------


def test_transformer_reads_raw_and_writes_dbt_schemas(built):
    assert as_role("transformer", "select count(*) from raw_chicago.crimes") == [(ROWS,)]
    as_role("transformer", "create table staging.transformer_scratch (i int)")
    as_role("transformer", "create view marts.transformer_scratch as select 1 as i")
    as_role("transformer", "create temp table transformer_scratch (i int)")  # incremental models


@pytest.mark.parametrize(("statement", "message"), [
    ("insert into raw_chicago.crimes select * from raw_chicago.crimes where false",
     "permission denied for table crimes"),
    ("update raw_chicago.crimes set id = id where false", "permission denied for table crimes"),
    ("delete from raw_chicago.crimes where false", "permission denied for table crimes"),
    ("truncate raw_chicago.crimes", "permission denied for table crimes"),
    ("drop table raw_chicago.crimes", "must be owner of table crimes"),
    ("alter table raw_chicago.crimes add column x int", "must be owner of table crimes"),
    ("create table raw_chicago.transformer_scratch (i int)",
     "permission denied for schema raw_chicago"),
    ("select * from raw_chicago_staging.crimes", "permission denied for schema raw_chicago_staging"),
    ("create schema transformer_scratch", "permission denied for database {database}"),
])
def test_transformer_cannot_write_raw(built, statement, message):
    assert denied("transformer", statement) == message.format(database=TEST_DATABASE)


# --- analyst --------------------------------------------------------------------------------


def test_analyst_reads_every_mart(built, warehouse_db):
    marts = [name for (name,) in query(
        warehouse_db, "select table_name from information_schema.tables "
                      "where table_schema = 'marts' order by 1")]
    assert DAILY.split(".")[1] in marts
    for name in marts:
        assert as_role("analyst", f'select count(*) from marts."{name}"')[0][0] >= 0, name


@pytest.mark.parametrize(("statement", "message"), [
    ("select * from raw_chicago.crimes", "permission denied for schema raw_chicago"),
    ("select * from raw_chicago_staging.crimes", "permission denied for schema raw_chicago_staging"),
    ("select * from staging.stg_chicago__crimes", "permission denied for schema staging"),
    ("select * from enriched.int_chicago__crimes_enriched",
     "permission denied for schema enriched"),
    ("select * from seeds.chicago_community_areas", "permission denied for schema seeds"),
    (f"insert into {DAILY} select * from {DAILY} where false",
     "permission denied for table rpt_chicago__crimes_daily_trend"),
    (f"update {DAILY} set crime_count = 0 where false",
     "permission denied for table rpt_chicago__crimes_daily_trend"),
    (f"delete from {DAILY} where false",
     "permission denied for table rpt_chicago__crimes_daily_trend"),
    (f"truncate {DAILY}", "permission denied for table rpt_chicago__crimes_daily_trend"),
    (f"drop table {DAILY}", "must be owner of table rpt_chicago__crimes_daily_trend"),
    (f"alter table {DAILY} add column x int",
     "must be owner of table rpt_chicago__crimes_daily_trend"),
    ("create table marts.analyst_scratch (i int)", "permission denied for schema marts"),
    ("create table public.analyst_scratch (i int)", "permission denied for schema public"),
    ("create table analyst_scratch (i int)", "permission denied for schema public"),
    ("create view marts.analyst_scratch as select 1 as i", "permission denied for schema marts"),
    ("create temp table analyst_scratch (i int)",
     'permission denied to create temporary tables in database "{database}"'),
    ("create schema analyst_scratch", "permission denied for database {database}"),
])
def test_analyst_reads_only_marts_and_writes_nothing(built, statement, message):
    assert denied("analyst", statement) == message.format(database=TEST_DATABASE)


# --- ensure_roles puts things right ---------------------------------------------------------


def test_tables_an_admin_created_in_raw_become_the_loaders(built, warehouse_db):
    query(warehouse_db, "create table raw_chicago.admin_made (i int)")
    try:
        changes = roles.ensure_roles(TEST_DATABASE)
        assert f'ALTER TABLE "raw_chicago"."admin_made" OWNER TO "{LOADER}"' in changes
        assert owners(warehouse_db, "raw_chicago")["admin_made"] == LOADER
        assert as_role("transformer", "select count(*) from raw_chicago.admin_made") == [(0,)]
    finally:
        query(warehouse_db, "drop table raw_chicago.admin_made")


def test_a_new_raw_dataset_is_created_for_the_loader(built, warehouse_db):
    url = roles.url("loader", raw_dataset="raw_rolecheck")
    assert LOADER in url
    try:
        assert dict(query(warehouse_db, "select nspname, pg_get_userbyid(nspowner) "
                          "from pg_namespace where nspname like 'raw\\_rolecheck%%'")) == {
            "raw_rolecheck": LOADER, "raw_rolecheck_staging": LOADER}
        as_role("loader", "create table raw_rolecheck.t (i int)")
        with pytest.raises(warehouse.WarehouseError, match="only raw schemas"):
            roles.url("loader", raw_dataset="marts")
    finally:
        query(warehouse_db, "drop schema raw_rolecheck, raw_rolecheck_staging cascade")


def test_a_password_is_set_hashed_at_creation_and_never_reset_silently(warehouse_db, monkeypatch):
    """A role is created with PULSE_<ROLE>_PASSWORD; a process with another password in
    its environment does not change it (`pulse db roles --set-passwords` does)."""
    secret, other = "pulse-role-secret-7d41", "another-secret-9c2e"
    database = f"{TEST_DATABASE}_pw"
    warehouse.create_database(database)
    monkeypatch.setenv("PULSE_ANALYST_PASSWORD", secret)
    name = roles.role_name("analyst", database)

    def stored() -> str:
        return query(warehouse_db, "select rolpassword from pg_authid where rolname = %s",
                     (name,))[0][0]

    try:
        changes = roles.ensure_roles(database)
        assert f"CREATE ROLE {name} LOGIN PASSWORD '***'" in changes
        assert secret not in str(changes)
        created = stored()
        assert created.startswith("SCRAM-SHA-256$") and secret not in created
        assert roles.connection("analyst", database).password == secret

        monkeypatch.setenv("PULSE_ANALYST_PASSWORD", other)
        assert roles.ensure_roles(database) == []
        assert stored() == created
        changes = roles.ensure_roles(database, set_passwords=True)
        assert f"ALTER ROLE {name} PASSWORD '***'" in changes and stored() != created
    finally:
        roles.drop_database(database)


def test_roles_are_scoped_to_their_database(built, warehouse_db):
    """Another Pulse database on the same server has roles of its own, and neither
    database's roles may connect to the other."""
    import psycopg2

    database = f"{TEST_DATABASE}_other"
    warehouse.create_database(database)
    try:
        roles.ensure_roles(database)
        assert roles.role_name("analyst", database) != ANALYST
        mine = roles.connection("analyst")
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            warehouse.connect(warehouse.Connection(mine.host, mine.port, mine.user,
                                                   mine.password, database)).close()
    finally:
        roles.drop_database(database)


def test_other_servers_need_each_roles_password(monkeypatch):
    monkeypatch.setattr(warehouse, "is_embedded_server", lambda conn: False)
    monkeypatch.delenv("PULSE_TRANSFORMER_PASSWORD", raising=False)
    admin = warehouse.Connection("db.example", 5432, "admin", "pw", "pulse")
    with pytest.raises(warehouse.WarehouseError) as missing:
        roles.role_connection(admin, "transformer")
    assert "PULSE_TRANSFORMER_PASSWORD" in str(missing.value)
    assert "PULSE_ROLES=off" in str(missing.value)


def test_roles_off_runs_every_step_as_the_admin(warehouse_db, monkeypatch):
    monkeypatch.setenv("PULSE_ROLES", "off")
    for role in warehouse.ROLES:
        assert roles.url(role) == warehouse_db.url()



def test_a_role_cannot_grant_itself_more(built):
    """ensure_roles run by anyone but the admin fails, and says what the admin needs."""
    with pytest.raises(warehouse.WarehouseError, match="CREATEROLE"):
        roles.ensure_roles(admin=roles.connection("analyst"))


# --- what the loader could make run as others ------------------------------------------------


def test_a_function_the_loader_hides_in_raw_never_runs_as_the_transformer(built, warehouse_db):
    """The loader owns raw_chicago: it can create a function and a view calling it there.
    The transformer may not read the view, and no dbt build starts while they exist."""
    from pulse.dbt import check_before_build

    pg = roles.connect("loader")
    try:
        with pg, pg.cursor() as cur:
            cur.execute("create function raw_chicago.evil() returns int language sql "
                        "as 'select 1'")
            cur.execute("create view raw_chicago.innocent as select raw_chicago.evil() as x")
        roles.ensure_roles(TEST_DATABASE)  # what every step as the loader runs first
        assert "permission denied for view innocent" in denied(
            "transformer", "select * from raw_chicago.innocent")
        with pytest.raises(warehouse.WarehouseError) as refused:
            check_before_build(roles.connection("transformer"))
        message = str(refused.value)
        assert "function raw_chicago.evil()" in message and "view raw_chicago.innocent" in message
        build = subprocess.run([PULSE, "build", "--select", "stg_chicago__crimes"],
                               capture_output=True, text=True)
        assert build.returncode != 0 and "refusing to run dbt" in build.stderr
    finally:
        pg = roles.connect("loader")
        with pg, pg.cursor() as cur:
            cur.execute("drop view if exists raw_chicago.innocent")
            cur.execute("drop function if exists raw_chicago.evil()")
        pg.close()
    assert roles.foreign_raw_objects(roles.connection("transformer")) == []


def test_psql_is_the_analyst_unless_asked(built):
    who = subprocess.run([PULSE, "db", "psql", "-tAc", "select current_user"],
                         capture_output=True, text=True, check=True)
    assert who.stdout.strip() == ANALYST


def test_reports_run_with_only_the_analysts_url(built, tmp_path):
    """No admin URL, no embedded server to fall back on: the analyst's own URL does."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_URL" and not k.startswith("PG")}
    env.update(PULSE_ANALYST_URL=roles.url("analyst"), PULSE_ROLES="on",
               PULSE_WAREHOUSE_DIR=str(tmp_path / "no-warehouse-here"))
    run = subprocess.run([PULSE, "reports", "--out", str(tmp_path / "reports")], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert (tmp_path / "reports" / "index.html").exists()
    assert not (tmp_path / "no-warehouse-here").exists()
