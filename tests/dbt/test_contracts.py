"""The report marts are contracts: a published mart's shape changes only on purpose.

Every `rpt_` model under dbt_project/models/marts enforces a dbt model contract (its
columns and their Postgres types declared in the folder's _*__models.yml, with the
constraints that hold), except the few listed in NOT_CONTRACTS with the reason. A build
whose SQL would publish other columns or types fails with dbt's contract error before
the table changes: checked here on a copy of the project whose mart SQL is edited,
built into a scratch database of its own (so the session's database is left alone).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pulse import roles, warehouse
from pulse.dbt import DBT_EXECUTABLE, DBT_ROLE, dbt_env, load_manifest
from pulse.warehouse import PROJECT_ROOT
from tests.conftest import TEST_DATABASE, query

# Report marts without a contract, and why (each says so in its description too).
NOT_CONTRACTS = {
    "rpt_countries__profile": "its columns follow the indicators loaded (a column pair each)",
}
CONTRACT_ERROR = "This model has an enforced contract that failed."

# The mart whose SQL the drift tests edit: upstream it needs only the country staging
# views and int_countries__indicator_years, which build on an empty warehouse.
MART = "rpt_countries__economy"
MART_SQL = Path("dbt_project/models/marts/countries") / f"{MART}.sql"


def report_marts(manifest: dict) -> dict[str, dict]:
    return {node["name"]: node for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and node["name"].startswith("rpt_")
            and node["original_file_path"].startswith("dbt_project/models/marts/")}


def test_every_report_mart_is_an_enforced_contract(dbt_manifest):
    marts = report_marts(load_manifest(dbt_manifest))
    assert len(marts) >= 14, sorted(marts)
    assert set(NOT_CONTRACTS) <= set(marts), "NOT_CONTRACTS names a mart that is gone"
    for name, node in sorted(marts.items()):
        if name in NOT_CONTRACTS:
            assert not node["contract"]["enforced"], f"{name} is a contract: drop it from NOT_CONTRACTS"
            assert "not a contract" in node["description"].lower(), (
                f"{name}: its description must say it is not a contract, and why")
            continue
        assert node["contract"]["enforced"], (
            f"{name} has no enforced contract (config: contract: {{enforced: true}}); a mart "
            "whose columns cannot be declared goes in NOT_CONTRACTS with the reason")
        columns = node["columns"]
        assert columns, f"{name}: a contract declares every column"
        untyped = [c for c, column in columns.items() if not column.get("data_type")]
        assert not untyped, f"{name}: columns without a data_type: {untyped}"


# --- drift: a copy of the project, built into a database of its own -------------------


class Scratch:
    """A copy of the dbt project (dbt_project.yml, profiles.yml, dbt_project/) whose
    models a test may edit, and the environment that builds it into `database`."""

    def __init__(self, root: Path, database: str) -> None:
        self.root, self.database = root, database
        for name in ("dbt_project.yml", "profiles.yml"):
            shutil.copy(PROJECT_ROOT / name, root / name)
        shutil.copytree(PROJECT_ROOT / "dbt_project", root / "dbt_project")
        self.env = {**os.environ, **dbt_env(roles.connection(DBT_ROLE, database))}
        self.env.pop("DBT_TARGET_PATH", None)

    def dbt(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [DBT_EXECUTABLE, *args, "--project-dir", str(self.root), "--profiles-dir",
             str(self.root), "--target-path", str(self.root / "target"), "--log-path",
             str(self.root / "logs")],
            cwd=self.root, env=self.env, capture_output=True, text=True)

    def columns(self, relation: str) -> list[tuple[str, str, str]]:
        """(name, type, nullable) of marts.<relation>, in order, as the admin reads them."""
        return query(warehouse.connection(self.database),
                     "select column_name, data_type, is_nullable from information_schema.columns "
                     "where table_schema = 'marts' and table_name = %s order by ordinal_position",
                     (relation,))


@pytest.fixture(scope="module")
def scratch(warehouse_db, tmp_path_factory):
    """The copy, with MART and everything upstream of it built from its unedited SQL."""
    database = f"{TEST_DATABASE}_contracts"
    warehouse.create_database(database)
    try:
        project = Scratch(tmp_path_factory.mktemp("project"), database)
        build = project.dbt("build", "--select", f"+{MART}")
        assert build.returncode == 0, build.stdout[-4000:]
        yield project
    finally:
        roles.drop_database(database)


@pytest.fixture
def edited(scratch):
    """Edits MART's SQL in the copy (old text -> new text) and puts it back afterwards."""
    path = scratch.root / MART_SQL
    original = path.read_text()

    def edit(old: str, new: str) -> None:
        assert original.count(old) == 1, f"{MART_SQL} no longer has {old!r}"
        path.write_text(original.replace(old, new))

    yield edit
    path.write_text(original)


def test_the_built_mart_has_its_contracts_types(scratch, dbt_manifest):
    """What the contract declares is what Postgres has: names, order, types, NOT NULL."""
    node = report_marts(load_manifest(dbt_manifest))[MART]
    not_null = {c for c, column in node["columns"].items()
                if any(k["type"] in ("not_null", "primary_key") for k in column["constraints"])}
    for constraint in node["constraints"]:
        if constraint["type"] == "primary_key":
            not_null |= set(constraint["columns"])
    declared = [(c, column["data_type"], "NO" if c in not_null else "YES")
                for c, column in node["columns"].items()]
    assert scratch.columns(MART) == declared


@pytest.mark.parametrize("old, new, reason", [
    pytest.param("{{ rounded('trade_balance_usd') }} as trade_balance_usd",
                 "trade_balance_usd::double precision as trade_balance_usd",
                 "data type mismatch", id="a column's type changes"),
    pytest.param("{{ rounded('trade_openness_pct') }} as trade_openness_pct",
                 "{{ rounded('trade_openness_pct') }} as trade_openness",
                 "missing in definition", id="a column is renamed"),
    pytest.param("{{ rounded('trade_openness_pct') }} as trade_openness_pct",
                 "{{ rounded('trade_openness_pct') }} as trade_openness_pct,\n"
                 "        1::integer as extra_column",
                 "missing in contract", id="a column is added"),
])
def test_a_mart_whose_shape_drifts_fails_the_build(scratch, edited, old, new, reason):
    before = scratch.columns(MART)
    edited(old, new)
    build = scratch.dbt("build", "--select", MART)
    assert build.returncode != 0, f"{MART} built with a shape its contract does not declare"
    assert CONTRACT_ERROR in build.stdout, build.stdout[-4000:]
    assert reason in build.stdout, build.stdout[-4000:]
    assert scratch.columns(MART) == before, "the published table changed"

