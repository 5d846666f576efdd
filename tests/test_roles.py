"""Each database role does its job and nothing more, proven with PostgreSQL's own errors.

A real load (as the loader) and `dbt build` (as the transformer) fill the test
database; then every boundary is tried as each role over its own connection. Writes
that are allowed run inside a transaction that is rolled back, and use `where false`
where they can: PostgreSQL checks privileges before it looks at a single row.
"""

from __future__ import annotations

import pytest
from psycopg2 import errors

from pipelines.chicago import dataset_pipeline, load_chicago, load_dataset
from pipelines.geo import geocode
from pulse import roles, warehouse
from sample_api import SampleApi, chicago_portal
from tests.conftest import TEST_DATABASE, query, run_dbt

ROWS = 2_000
DAILY = "marts.rpt_chicago__crimes_daily_trend"

pytestmark = pytest.mark.skipif(not roles.roles_enabled(), reason="PULSE_ROLES=off")


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
            assert cur.fetchone()[0] == roles.role(role).name
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
    assert "pulse_loader" in built["load"].destination_displayable_credentials
    assert set(built["raw_owners"].values()) == {"pulse_loader"}
    assert "crimes" in built["raw_owners"]
    for schema in ("staging", "enriched", "marts", "seeds"):
        assert set(owners(warehouse_db, schema).values()) == {"pulse_transformer"}, schema
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
        assert 'ALTER TABLE "raw_chicago"."admin_made" OWNER TO "pulse_loader"' in changes
        assert owners(warehouse_db, "raw_chicago")["admin_made"] == "pulse_loader"
        assert as_role("transformer", "select count(*) from raw_chicago.admin_made") == [(0,)]
    finally:
        query(warehouse_db, "drop table raw_chicago.admin_made")


def test_a_new_raw_dataset_is_created_for_the_loader(built, warehouse_db):
    url = roles.url("loader", raw_dataset="raw_rolecheck")
    assert "pulse_loader" in url
    try:
        assert dict(query(warehouse_db, "select nspname, pg_get_userbyid(nspowner) "
                          "from pg_namespace where nspname like 'raw\\_rolecheck%%'")) == {
            "raw_rolecheck": "pulse_loader", "raw_rolecheck_staging": "pulse_loader"}
        as_role("loader", "create table raw_rolecheck.t (i int)")
        with pytest.raises(warehouse.WarehouseError, match="only raw schemas"):
            roles.url("loader", raw_dataset="marts")
    finally:
        query(warehouse_db, "drop schema raw_rolecheck, raw_rolecheck_staging cascade")


def test_password_from_the_environment_is_set_hashed(warehouse_db, monkeypatch):
    secret = "pulse-role-secret-7d41"
    monkeypatch.setenv("PULSE_ANALYST_PASSWORD", secret)
    try:
        changes = roles.ensure_roles(TEST_DATABASE)
        assert "ALTER ROLE pulse_analyst PASSWORD '***'" in changes
        assert secret not in str(changes)
        (stored,), = query(warehouse_db, "select rolpassword from pg_authid "
                                         "where rolname = 'pulse_analyst'")
        assert stored.startswith("SCRAM-SHA-256$") and secret not in stored
        assert roles.connection("analyst").password == secret
        assert roles.ensure_roles(TEST_DATABASE) == []  # set once
    finally:
        # the embedded server trusts local connections: the role goes back to no password
        query(warehouse_db, "alter role pulse_analyst password null")
        roles._passwords_set.clear()


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
