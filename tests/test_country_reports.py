"""Per-country reports (pulse/country_reports.py) from country marts built by dbt.

The raw World Bank and OECD tables are written in the raw contract's shape (as
tests/dbt/test_country_marts.py does: what the dlt sources load), with one economy whose
id is a path, as an upstream answer could carry; `dbt build` makes the marts the reports
read as the analyst.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pulse.country_reports import country_report_path, export_country_reports
from pulse.reports import ReportError
from tests.conftest import run_dbt
from tests.dbt.test_country_marts import (
    MARTS,
    Country,
    EdgeCaseUniverse,
    drop_country_data,
    raw_tables,
    write_raw,
)

BAD_ID = "../../../../tmp/x"


class UniverseWithAPathForAnId(EdgeCaseUniverse):
    """The edge cases, and a country whose World Bank id is a relative path, with AAA's
    figures (so it reaches every country mart)."""

    def __init__(self) -> None:
        super().__init__()
        self.countries.append(Country(BAD_ID, "X9", "Pathland", "EAS", "East Asia & Pacific ",
                                      "HIC", "High income", "LNX", "Dot Dot", "1.5", "2.5",
                                      False))
        for (indicator, code, year), value in list(self._values.items()):
            if code == "AAA":
                self._values[indicator, BAD_ID, year] = value


@pytest.fixture(scope="module")
def country_marts(warehouse_db):
    """The country marts built from the universe above: (its country codes, dbt's output)."""
    universe = UniverseWithAPathForAnId()
    write_raw(warehouse_db, raw_tables(universe))
    build = run_dbt("build", "--select", f"+{MARTS}")
    assert build.returncode == 0, build.stdout[-6000:]
    codes = sorted(c.iso3 for c in universe.countries if not c.is_aggregate and c.iso3 != BAD_ID)
    yield codes, build.stdout
    drop_country_data(warehouse_db)


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_a_country_id_that_is_a_path_writes_nothing_outside_reports(country_marts, tmp_path,
                                                                    caplog):
    codes, build_log = country_marts
    # deep enough that the id's ../ climb out of the reports folder to a folder that exists
    out = tmp_path / "a" / "b" / "reports"
    (tmp_path / "tmp").mkdir()
    with caplog.at_level(logging.WARNING, logger="pulse.country_reports"):
        written = export_country_reports(out_dir=out)

    assert files_under(tmp_path) - files_under(out) == set()  # nothing outside reports/
    assert not Path("/tmp/x.csv").exists()
    # the others are written; the bad one is skipped, named in a warning
    assert sorted(written.countries) == codes
    assert sorted(p.stem for p in (out / "countries").glob("*.csv")) == codes
    assert written.skipped == (BAD_ID,)
    assert any(BAD_ID in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)
    # and dbt warned about it when it built the World Bank staging model
    assert "matches_pattern_stg_worldbank__countries_country_code" in build_log
    assert any("WARN" in line and "matches_pattern" in line for line in build_log.splitlines())


@pytest.mark.parametrize("code", [BAD_ID, "..", "JP/N", "jpn", "JPNX", "J", "", None, "JPN\n"])
def test_a_code_that_is_not_a_country_code_names_no_file(tmp_path, code):
    with pytest.raises(ReportError, match="not a country code"):
        country_report_path(tmp_path, code)


@pytest.mark.parametrize("code", ["JPN", "JP", "1A", "WLD"])
def test_a_country_code_names_its_file_in_the_folder(tmp_path, code):
    assert country_report_path(tmp_path, code) == (tmp_path / f"{code}.csv").resolve()
