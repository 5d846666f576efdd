"""Per-country reports: one CSV per country, every year of its growth, health and economy.

What an analyst sends a country desk: `reports/countries/<ISO3>.csv`, a row per year with
the country's population and GDP growth, health and economy figures, read as the analyst
role from the three yearly country marts in one snapshot, so the files agree with each other
and with the mart reports beside them. CSV as in pulse/reports.py (text quoted, NULL empty).

`countries/` is published as one version (pulse/publication.py): the files of one
snapshot appear together, and a country gone from the marts disappears with the next
export. A country code is data from upstream that becomes a file name, so only a code
that looks like one is written (`country_report_path`); another is skipped, with a
warning naming it, and the other countries are still written.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulse import country_pages, publication, roles, warehouse
from pulse.locks import file_lock
from pulse.reports import ReportError, inside, reports_dir, value_kind, write_csv

log = logging.getLogger(__name__)

COUNTRIES_FOLDER = "countries"
EXPORT_LOCK = ".countries-export.lock"  # beside the folder, held by each export
# The yearly marts joined per (country, year); their columns after the key, in this order.
YEARLY_MARTS = ("rpt_countries__growth", "rpt_countries__health_trends", "rpt_countries__economy")
PROFILE = "rpt_countries__profile"  # the countries, with their names
TOP10 = "rpt_countries__top10"  # the dashboard's rankings (pulse/country_pages.py)
KEY = ("country_code", "year")
# A country code names a file, so only what ISO codes (and the World Bank's aggregate
# codes: WLD, 1A) look like: anything else, e.g. `../x`, is refused.
COUNTRY_CODE = re.compile(r"[A-Z0-9]{2,3}")


@dataclass(frozen=True)
class CountryReports:
    directory: Path
    countries: tuple[str, ...]  # ISO3 codes written
    columns: tuple[str, ...]
    rows: int
    skipped: tuple[str, ...] = ()  # country codes not written: not a valid file name


def country_report_path(folder: Path, code: object) -> Path:
    """Where the CSV of country `code` goes in `folder`; a ReportError for a code that is
    not a country code, or that would land outside `folder`."""
    if not isinstance(code, str) or not COUNTRY_CODE.fullmatch(code):
        raise ReportError(
            f"country reports: country_code {code!r} in marts.rpt_countries__profile is not "
            "a country code (2 or 3 capital letters or digits, e.g. JPN), so it cannot name "
            "a file; its report was skipped. It comes from the World Bank's country list "
            "(raw_worldbank.countries.id): the dbt test on stg_worldbank__countries names it")
    return inside(folder, f"{code}.csv", f"country report {code!r}")


def _columns(cur, table: str) -> list[str]:
    cur.execute(
        "select column_name from information_schema.columns "
        "where table_schema = 'marts' and table_name = %s order by ordinal_position", (table,))
    return [name for (name,) in cur.fetchall()]


def _select(columns_by_mart: dict[str, list[str]]) -> tuple[str, list[str]]:
    """Every (country, year) of any yearly mart, with each mart's columns (each name once)."""
    keys = " union ".join(f'select country_code, year from marts."{m}"' for m in columns_by_mart)
    picks, names, joins = [], [], []
    for i, (mart, columns) in enumerate(columns_by_mart.items()):
        joins.append(f'left join marts."{mart}" m{i} using (country_code, year)')
        for column in columns:
            if column not in names:
                picks.append(f'm{i}."{column}"')
                names.append(column)
    sql = (f"with keys as ({keys}) select k.country_code, p.country_name, k.year, "
           f"{', '.join(picks)} from keys k join marts.{PROFILE} p "
           f"using (country_code) {' '.join(joins)}")
    return sql, ["country_code", "country_name", "year", *names]


def export_country_reports(countries: Iterable[str] | None = None, out_dir: Path | None = None,
                           conn: warehouse.Connection | None = None) -> CountryReports:
    """Writes `<out_dir>/countries/<ISO3>.csv` for every country (or those named).

    An unknown code fails with the codes that exist, before anything is written. The
    folder is published whole (pulse/publication.py): every country's file from one
    snapshot, swapped in by one rename, so a country no longer in the marts disappears.
    Naming countries rewrites theirs and keeps the other files of the folder.
    """
    wanted = sorted({c.strip().upper() for c in countries or () if c.strip()})
    out_dir = Path(out_dir) if out_dir is not None else reports_dir()
    conn = conn or roles.connection("analyst")
    out_dir.mkdir(parents=True, exist_ok=True)
    # One export of this folder at a time, from its read to its publication: an export of
    # one country carries the others over from the published folder, so an export of
    # every country that read earlier and published later would otherwise either be
    # dropped (leaving that one country alone) or lay older files over newer ones.
    with file_lock(out_dir / EXPORT_LOCK):
        return _export(wanted, out_dir, conn)


def _export(wanted: list[str], out_dir: Path, conn: warehouse.Connection) -> CountryReports:
    snapshot = _read(conn, wanted)
    by_country: dict[str, list[tuple]] = {}
    for row in snapshot.rows:
        by_country.setdefault(row[0], []).append(row)
    written, skipped = [], []
    with publication.staged_version(out_dir, COUNTRIES_FOLDER) as staging:
        for code, country_rows in by_country.items():
            try:  # one bad code from upstream must not cost the other countries their reports
                path = country_report_path(staging, code)
            except ReportError as err:
                log.warning("%s", err)
                skipped.append(code)
                continue
            _write(path, snapshot.names, country_rows)
            path.with_suffix(".html").write_text(country_pages.render_country(
                code, snapshot.names, country_rows, snapshot.profile.get(code),
                snapshot.read_at.isoformat()), encoding="utf-8")
            written.append(code)
        pages = set(written) | (set(snapshot.known) if wanted else set())
        (staging / country_pages.DASHBOARD).write_text(country_pages.render_dashboard(
            list(snapshot.profile.values()), snapshot.top, pages, snapshot.read_at.isoformat()),
            encoding="utf-8")
        keep = _keep_other_countries(set(snapshot.known) - set(written)) if wanted else None
        publication.publish(out_dir, COUNTRIES_FOLDER, staging, read_at=snapshot.read_at,
                            sources=[f"marts.{m}" for m in (*YEARLY_MARTS, PROFILE)],
                            carry_over=keep)
    return CountryReports(out_dir / COUNTRIES_FOLDER, tuple(written), tuple(snapshot.names),
                          sum(len(by_country[c]) for c in written), tuple(skipped))


@dataclass(frozen=True)
class _Snapshot:
    names: list[str]
    rows: list[tuple]
    known: list[str]  # every country code of the profile
    read_at: dt.datetime
    profile: dict[str, dict[str, Any]]  # code -> the profile's columns the dashboard shows
    top: list[dict[str, Any]]  # rpt_countries__top10's rows


def _read(conn: warehouse.Connection, wanted: Sequence[str]) -> _Snapshot:
    """The rows of the countries `wanted` (every country when empty), in one snapshot."""
    import psycopg2

    pg = psycopg2.connect(conn.url())
    try:
        with pg, pg.cursor() as cur:
            cur.execute("set transaction isolation level repeatable read, read only")
            cur.execute("select now()")
            (read_at,), = cur.fetchall()
            columns = {m: _columns(cur, m) for m in (*YEARLY_MARTS, PROFILE)}
            missing = [m for m, names in columns.items() if not names]
            if missing:
                raise ReportError(
                    f"country reports: marts.{', marts.'.join(missing)} not found (or not "
                    f"readable as {conn.user}): build them first with `pulse build`")
            sql, names = _select({m: [c for c in columns[m] if c not in (*KEY, "country_name")]
                                  for m in YEARLY_MARTS})
            cur.execute(f"select country_code from marts.{PROFILE} order by 1")
            known = [code for (code,) in cur.fetchall()]
            unknown = sorted(set(wanted) - set(known))
            if unknown:
                raise ReportError(
                    f"country reports: no country {', '.join(unknown)} in "
                    f"marts.{PROFILE}; known codes (ISO3): "
                    f"{', '.join(known[:40])}{' ...' if len(known) > 40 else ''}")
            where = " where k.country_code = any(%s)" if wanted else ""
            cur.execute(f"{sql}{where} order by 1, 3", (list(wanted),) if wanted else None)
            rows = cur.fetchall()
            profile = _dicts(cur, PROFILE, [c for c in country_pages.PROFILE_COLUMNS
                                            if c in columns[PROFILE]])
            top_columns = _columns(cur, TOP10)  # a dashboard without rankings if not built
            top = _dicts(cur, TOP10, top_columns) if top_columns else []
    except psycopg2.Error as err:
        first_line = (err.pgerror or str(err)).strip().splitlines()[0]
        raise ReportError(f"country reports: reading the marts as {conn.user} failed: "
                          f"{first_line}") from err
    finally:
        pg.close()
    return _Snapshot(names, rows, known, read_at.astimezone(dt.UTC),
                     {r["country_code"]: r for r in profile}, top)


def _dicts(cur, table: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Every row of marts.`table` as dicts; names from the catalog, quoted."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    cur.execute(f'select {quoted} from marts."{table}"')
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def _keep_other_countries(codes: set[str]) -> Callable[[publication.Version | None, Path], None]:
    """Carries the files of `codes` over from the published folder into the new one (as
    hard links: the same bytes), so exporting one country leaves the others in place; a
    country no longer in the profile is not carried over."""

    def carry_over(current: publication.Version | None, staging: Path) -> None:
        if current is None:
            return
        for old in [*current.path.glob("*.csv"), *current.path.glob("*.html")]:
            if old.stem in codes and COUNTRY_CODE.fullmatch(old.stem):
                target = staging / old.name
                try:
                    os.link(old, target)
                except OSError:  # a file system without hard links
                    shutil.copy2(old, target)

    return carry_over


def _write(path: Path, names: Sequence[str], rows: Sequence[tuple]) -> None:
    """The report CSV (pulse/reports.py's writer), each column's kind from its values."""
    kinds = [value_kind(next((row[i] for row in rows if row[i] is not None), ""))
             for i in range(len(names))]
    write_csv(path, names, kinds, rows)
