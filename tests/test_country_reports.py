"""Per-country reports (pulse/country_reports.py) from country marts built by dbt.

The raw World Bank and OECD tables are written in the raw contract's shape (as
tests/dbt/test_country_marts.py does: what the dlt sources load), with one economy whose
id is a path, as an upstream answer could carry; `dbt build` makes the marts the reports
read as the analyst.
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from pulse.country_reports import country_report_path, export_country_reports
from pulse.reports import ReportError, write_index
from tests.conftest import query, run_dbt
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


def _export_countries_in_child(out_dir: str, country: str) -> tuple[str, ...]:
    return export_country_reports([country] if country else None, out_dir=Path(out_dir)).countries


def test_country_exports_at_once_all_succeed_and_agree(country_marts, tmp_path):
    codes, _ = country_marts
    alone = export_country_reports(out_dir=tmp_path / "alone")
    expected = {p.name: p.read_bytes() for p in alone.directory.glob("*.csv")}

    out = tmp_path / "reports"
    jobs = ["", "", codes[0], codes[1], "", codes[2]]  # whole folders and single countries
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_export_countries_in_child, [str(out)] * len(jobs), jobs))
    assert [sorted(r) for r in results] == [codes if not j else [j] for j in jobs]
    # every country once, each file whole and the same as one export alone writes it
    assert {p.name: p.read_bytes() for p in (out / "countries").glob("*.csv")} == expected
    assert not [p for p in out.rglob("*") if p.name.startswith(".partial-")]


def test_one_country_rewritten_keeps_the_others(country_marts, tmp_path):
    codes, _ = country_marts
    everyone = export_country_reports(out_dir=tmp_path)
    before = {p.name: p.read_bytes() for p in everyone.directory.glob("*.csv")}
    one = export_country_reports([codes[0].lower()], out_dir=tmp_path)
    assert one.countries == (codes[0],)
    assert {p.name: p.read_bytes() for p in one.directory.glob("*.csv")} == before


def test_a_country_gone_from_the_marts_leaves_the_folder_and_the_index(
        warehouse_db, country_marts, tmp_path):
    codes, _ = country_marts
    gone = codes[-1]
    export_country_reports(out_dir=tmp_path)
    write_index(tmp_path)
    assert f'href="countries/{gone}.csv"' in (tmp_path / "index.html").read_text()

    query(warehouse_db, "create table marts.saved_profile_row as select * from "
                        "marts.rpt_countries__profile where country_code = %s", (gone,))
    query(warehouse_db, "delete from marts.rpt_countries__profile where country_code = %s",
          (gone,))
    try:
        written = export_country_reports(out_dir=tmp_path)
        write_index(tmp_path)
    finally:
        query(warehouse_db, "insert into marts.rpt_countries__profile "
                            "select * from marts.saved_profile_row")
        query(warehouse_db, "drop table marts.saved_profile_row")
    assert gone not in written.countries
    assert sorted(p.stem for p in (tmp_path / "countries").glob("*.csv")) == codes[:-1]
    assert f"countries/{gone}.csv" not in (tmp_path / "index.html").read_text()


def test_an_export_waits_for_the_one_before_it(country_marts, tmp_path):
    """Exports of the folder run one at a time, from their read to their publication:
    the race `test_country_exports_at_once_all_succeed_and_agree` could lose (an export of
    every country that read first and published after an export of one) cannot happen."""
    import threading

    from pulse.country_reports import EXPORT_LOCK
    from pulse.locks import file_lock

    codes, _ = country_marts
    done = threading.Event()
    with file_lock(tmp_path / EXPORT_LOCK):  # another export holds the folder
        worker = threading.Thread(target=lambda: (export_country_reports(out_dir=tmp_path),
                                                  done.set()))
        worker.start()
        assert not done.wait(2), "the export did not wait for the lock"
        assert not (tmp_path / "countries").exists()
    worker.join(timeout=120)
    assert done.is_set()
    assert len(list((tmp_path / "countries").glob("*.csv"))) == len(codes)


def test_the_country_dashboard_and_pages_in_the_browser(country_marts, tmp_path):
    import re

    from tests.test_portal import open_in_browser

    codes, _ = country_marts
    written = export_country_reports(out_dir=tmp_path)
    write_index(tmp_path)
    folder = written.directory
    assert sorted(p.stem for p in folder.glob("*.html") if p.stem != "index") == codes
    dashboard, errors = open_in_browser(folder / "index.html")
    assert not errors
    # the four rankings of rpt_countries__top10, each a bar chart with bars
    charts = re.findall(r'<svg class="chart".*?</svg>', dashboard, re.S)
    assert len(charts) == 4 and all('class="mark"' in svg for svg in charts)
    for code in codes:  # every country listed, linked to its page
        assert f'href="{code}.html"' in dashboard
    page, errors = open_in_browser(folder / f"{codes[0]}.html")
    assert not errors and "<polyline" in page and f'href="{codes[0]}.csv"' in page
    assert "Population" in page and "Health" in page
    index = (tmp_path / "index.html").read_text()
    assert 'href="countries/index.html"' in index
