"""Report marts as files: CSV, Parquet and JSON under `reports/`, and an index.html.

For people without database access. Each report mart (`marts.rpt_*`) is read as the
analyst role, the one that reads the marts and nothing else (with `PULSE_ROLES=off`, as
WAREHOUSE_URL's user), and written as three files beside a `<name>.meta.json` that
describes it. `index.html` is rebuilt from every meta file, so reports exported by
separate processes (one Dagster asset each) all appear in it.

Where: `PULSE_REPORTS_DIR`, else `reports/` in the project (`reports_dir()`).

How values are written (the same rows in the three files, read in one snapshot):

- **CSV**: UTF-8, a header row, `\\n` line ends. Text is always quoted (`"` doubled,
  newlines kept inside the quotes); NULL is an empty unquoted field, so an empty
  string (`""`) and NULL stay apart (pyarrow's CSV reader keeps them apart; pandas
  reads both as NaN). Booleans are `true`/`false`; numerics keep their scale (`1.50`).
  Text starting like a spreadsheet formula (`=`, `+`, `-`, `@`, tab, carriage return)
  is written with a leading `'`, so Excel or LibreOffice show it instead of running it
  (OWASP's advice against CSV injection); numbers are never touched.
  `PULSE_CSV_RAW_FORMULAS=1` writes such text as is. JSON and Parquet keep every value.
- **JSON**: an array of row objects, one row per line. Dates, times and timestamps
  are ISO 8601 strings (timestamps with time zone in UTC, `+00:00`). Numbers are JSON
  numbers when every reader gets them back exactly, else strings, decided per column so
  a column has one type: integers while all fit in +-(2^53 - 1) (a JavaScript number),
  numerics while all have at most 15 significant digits (what a double keeps),
  floats while all are finite. NULL is null.
- **Parquet**: typed: integers, floats, booleans, dates, timestamps (microseconds, UTC
  when with time zone) and numerics as decimals at the column's largest scale
  (`1.5` becomes `1.5000` next to `0.1234`: the same number). Numerics with NaN or
  infinity, or more than 76 digits, are strings. Each field carries its Postgres type
  and description in its metadata.
- Types without a natural equivalent in all three (json, uuid, intervals, arrays,
  enums...) are written as Postgres prints them (`value::text`), a string everywhere.

Rows are ordered by every column in turn, so an unchanged mart gives identical files.
The four files of a report are written into a new version folder and published
together by one rename (pulse/publication.py): a reader opening `<name>.csv` and
`<name>.parquet` sees the old version or the new one, never half of one nor a mix, even
if the export dies midway. A report whose mart left the project is deleted by the next
`export_all` or report asset (`prune_reports`). Marts are read into memory whole:
reports are rollups, not raw data.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pulse import maps, portal, publication, roles, warehouse
from pulse.warehouse import PROJECT_ROOT

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet", "json")
PAGE = "html"  # the report's portal page, published with its files
META_SUFFIX = ".meta.json"
INDEX_FILE = "index.html"
# Marts folder and name prefix of the dbt models that are published as reports.
MARTS_FOLDER = "marts"
REPORT_PREFIX = "rpt_"
# Readers that parse JSON numbers as doubles (JavaScript, jq...) keep these exactly.
_MAX_SAFE_INTEGER = 2**53 - 1
_DOUBLE_DIGITS = 15
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# What makes spreadsheets read a CSV cell as a formula (OWASP's list, and the full-width
# signs some spreadsheets also accept): text cells starting so get a leading `'`.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


class ReportError(RuntimeError):
    """A report could not be read or written."""


def inside(folder: Path, name: str, what: str) -> Path:
    """`folder / name`, refused unless it resolves inside `folder`: names made from data
    (a report's, a country's) must never write elsewhere. `what` names the report."""
    path = (Path(folder) / name).resolve()
    if not path.is_relative_to(Path(folder).resolve()):
        raise ReportError(f"{what}: the file name {name!r} would be written outside "
                          f"{folder} ({path}); nothing was written for it")
    return path


def reports_dir() -> Path:
    """The reports folder: `PULSE_REPORTS_DIR`, else `reports/` in the project."""
    return Path(os.environ.get("PULSE_REPORTS_DIR") or PROJECT_ROOT / "reports").resolve()


@dataclass(frozen=True)
class ReportColumn:
    name: str
    type: str  # as Postgres names it: "numeric(10,2)", "timestamp with time zone"
    description: str = ""


@dataclass(frozen=True)
class Report:
    """One exported report, as its `<name>.meta.json` records it."""

    name: str
    relation: str  # schema.table it was read from
    description: str
    columns: tuple[ReportColumn, ...]
    row_count: int
    refreshed_at: str  # ISO 8601, UTC: when the rows were read (the snapshot's time)
    read_as: str  # the database role that read them
    files: Mapping[str, str]  # format -> file name, relative to `directory`
    directory: Path = field(compare=False)
    title: str = ""  # what an analyst reads (meta.portal.title), else the name
    unique_id: str = ""  # the dbt model's, for the link to its docs

    def path(self, fmt: str) -> Path:
        return self.directory / self.files[fmt]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "relation": self.relation, "description": self.description,
            "columns": [vars(c) for c in self.columns], "row_count": self.row_count,
            "refreshed_at": self.refreshed_at, "read_as": self.read_as, "files": dict(self.files),
            "title": self.title, "unique_id": self.unique_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], directory: Path) -> Report:
        return cls(
            name=data["name"], relation=data["relation"], description=data["description"],
            columns=tuple(ReportColumn(**c) for c in data["columns"]),
            row_count=data["row_count"], refreshed_at=data["refreshed_at"],
            read_as=data["read_as"], files=data["files"], directory=directory,
            title=data.get("title", ""), unique_id=data.get("unique_id", ""),
        )


# --- which marts are reports ------------------------------------------------------------


@dataclass(frozen=True)
class ReportModel:
    """A dbt model published as a report: a model under models/marts named rpt_*."""

    name: str
    unique_id: str
    schema: str
    table: str
    description: str
    column_descriptions: Mapping[str, str]
    portal: Mapping[str, Any] = field(default_factory=dict)  # meta.portal: title, chart

    @property
    def title(self) -> str:
        """What an analyst reads: meta.portal.title, else the description's first clause."""
        if self.portal.get("title"):
            return str(self.portal["title"])
        first = self.description.split(". ")[0].split(" (grain")[0].strip().rstrip(".")
        return first or self.name

    @property
    def draws_maps(self) -> bool:
        """Whether its page has a map: it then reads the boundaries mart too."""
        chart = self.portal.get("chart") or []
        charts = [chart] if isinstance(chart, Mapping) else chart
        return any(c.get("type") == "map" for c in charts)


def report_models(manifest_path: Path) -> list[ReportModel]:
    """The report marts in a dbt manifest, by name: new ones need no code change."""
    try:
        manifest = json.loads(Path(manifest_path).read_text())
    except (OSError, ValueError) as err:
        raise ReportError(
            f"could not read the dbt manifest {manifest_path}: {err}. "
            "`dbt parse` (or `pulse build`) writes it"
        ) from err
    return report_models_in(manifest)


def report_models_in(manifest: Mapping[str, Any]) -> list[ReportModel]:
    """`report_models` of an already loaded manifest."""
    models = []
    for unique_id, node in manifest.get("nodes", {}).items():
        fqn = node.get("fqn", [])
        if (node.get("resource_type") != "model" or len(fqn) < 3 or fqn[1] != MARTS_FOLDER
                or not node["name"].startswith(REPORT_PREFIX)
                or node.get("config", {}).get("materialized") == "ephemeral"):
            continue
        models.append(ReportModel(
            name=node["name"], unique_id=unique_id, schema=node["schema"],
            table=node.get("alias") or node["name"],
            description=(node.get("description") or "").strip(),
            column_descriptions={name: (col.get("description") or "").strip()
                                 for name, col in node.get("columns", {}).items()},
            portal=((node.get("config") or {}).get("meta") or node.get("meta") or {}).get(
                "portal") or {},
        ))
    return sorted(models, key=lambda m: m.name)


# --- reading a mart -----------------------------------------------------------------------

# Postgres base types read as typed values; every other type is read as its text.
_KINDS = {
    "bool": "bool", "int2": "int", "int4": "int", "int8": "int", "float4": "float",
    "float8": "float", "numeric": "numeric", "text": "text", "varchar": "text",
    "bpchar": "text", "name": "text", "date": "date", "time": "time",
    "timestamp": "timestamp", "timestamptz": "timestamptz",
}

_COLUMNS_SQL = """
select a.attname, format_type(a.atttypid, a.atttypmod), b.typname,
       case when t.typtype = 'd' then t.typtypmod else a.atttypmod end,
       coalesce(col_description(a.attrelid, a.attnum), '')
from pg_attribute a
join pg_type t on t.oid = a.atttypid
join pg_type b on b.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
where a.attrelid = %s and a.attnum > 0 and not a.attisdropped
order by a.attnum
"""


@dataclass(frozen=True)
class _Column:
    name: str
    type: str
    kind: str  # a value of _KINDS, or "text" for types read as text
    typmod: int
    description: str
    typed: bool  # read as its type, not cast to text


@dataclass(frozen=True)
class _Snapshot:
    columns: list[_Column]
    rows: list[tuple]
    description: str
    read_at: dt.datetime
    read_as: str


def _read(conn: warehouse.Connection, schema: str, table: str) -> _Snapshot:
    import psycopg2
    from psycopg2 import sql

    relation = f"{schema}.{table}"
    try:
        pg = psycopg2.connect(conn.url())
    except psycopg2.OperationalError as err:
        raise ReportError(f"report {relation}: could not connect as {conn.user}: {err}") from err
    try:
        with pg, pg.cursor() as cur:
            # One snapshot for the catalog, the rows and their time; read only.
            cur.execute("set transaction isolation level repeatable read, read only")
            cur.execute("set local timezone to 'UTC'")
            cur.execute("select to_regclass(%s)::oid, now(), current_user",
                        (sql.Identifier(schema, table).as_string(cur),))
            oid, read_at, read_as = cur.fetchone()
            if oid is None:
                raise ReportError(
                    f"report {relation}: no such table in database {conn.database}, or the "
                    f"role {read_as} may not see its schema. Build it with `pulse build`; "
                    f"{read_as} reads only the marts (pulse/roles.py)"
                )
            cur.execute("select coalesce(obj_description(%s, 'pg_class'), '')", (oid,))
            (description,), = cur.fetchall()
            cur.execute(_COLUMNS_SQL, (oid,))
            columns = [_Column(name, type_, _KINDS.get(base, "text"), typmod, desc,
                               base in _KINDS)
                       for name, type_, base, typmod, desc in cur.fetchall()]
            if not columns:
                raise ReportError(f"report {relation}: the table has no columns")
            select = sql.SQL(", ").join(
                sql.Identifier(c.name) if c.typed else
                sql.SQL("{}::text as {}").format(sql.Identifier(c.name), sql.Identifier(c.name))
                for c in columns)
            # Every column in turn: a stable order, so unchanged data gives unchanged files.
            order = sql.SQL(", ").join(sql.Literal(i) for i in range(1, len(columns) + 1))
            with pg.cursor(name="pulse_report") as rows_cur:  # server-side: pages of rows
                rows_cur.itersize = 10_000
                rows_cur.execute(sql.SQL("select {} from {} order by {}").format(
                    select, sql.Identifier(schema, table), order))
                rows = list(rows_cur)
    except psycopg2.Error as err:
        first_line = (err.pgerror or str(err)).strip().splitlines()[0]
        raise ReportError(
            f"report {relation}: reading it as {conn.user} failed: {first_line}. Reports are "
            "read as the analyst role, which reads only the tables in the marts schemas "
            "(granted by dbt: run `pulse build`)"
        ) from err
    finally:
        pg.close()
    return _Snapshot(columns, rows, description, read_at.astimezone(dt.UTC), read_as)


# --- rendering values ---------------------------------------------------------------------


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)  # the shortest text that reads back as the same double


def _numeric_text(value: Decimal) -> str:
    return format(value, "f")  # keeps the scale ("1.50") and never uses an exponent


def neutralise_formulas() -> bool:
    """False when `PULSE_CSV_RAW_FORMULAS` is on (1, true, yes): CSV text is written as is."""
    return os.environ.get("PULSE_CSV_RAW_FORMULAS", "off").strip().lower() not in (
        "on", "1", "true", "yes")


def _csv_text(value: str, neutralise: bool) -> str:
    # A spreadsheet runs a cell that starts like a formula (OWASP, CSV injection); the
    # quote makes it text there, at the price of a visible quote in other readers.
    if neutralise and value.startswith(FORMULA_STARTS):
        value = "'" + value
    return '"' + value.replace('"', '""') + '"'


def _csv_field(kind: str, neutralise: bool = False) -> Callable[[Any], str]:
    if kind == "text":
        return lambda v: _csv_text(v, neutralise)
    if kind == "bool":
        return lambda v: "true" if v else "false"
    if kind == "float":
        return _float_text
    if kind == "numeric":
        return _numeric_text
    if kind in ("date", "time", "timestamp", "timestamptz"):
        return lambda v: v.isoformat()
    return str


def _json_number_safe(kind: str, values: Sequence[Any]) -> bool:
    """Whether every value of a numeric column reads back exactly as a JSON number."""
    present = [v for v in values if v is not None]
    if kind == "int":
        return all(abs(v) <= _MAX_SAFE_INTEGER for v in present)
    if kind == "float":
        return all(_float_text(v) not in ("NaN", "Infinity", "-Infinity") for v in present)
    if kind == "numeric":
        return all(v.is_finite() and (v.is_zero() or (
            len(v.normalize().as_tuple().digits) <= _DOUBLE_DIGITS and -307 <= v.adjusted() <= 308))
            for v in present)
    return False


def _json_value(kind: str, as_number: bool) -> Callable[[Any], str]:
    text = _csv_field(kind) if kind in ("int", "float", "numeric") else None
    if kind == "bool":
        return lambda v: "true" if v else "false"
    if text is not None:
        return text if as_number else (lambda v: json.dumps(text(v)))
    if kind in ("date", "time", "timestamp", "timestamptz"):
        return lambda v: json.dumps(v.isoformat())
    return lambda v: json.dumps(v, ensure_ascii=False)


def _decimal_type(values: Sequence[Any], typmod: int):
    """The Arrow decimal that holds every value exactly, or None (use strings)."""
    import pyarrow as pa

    if typmod >= 4:  # numeric(p, s): Postgres guarantees the values fit
        precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0x7FF
        if 0 <= scale <= precision <= 38:
            return pa.decimal128(precision, scale)
    scale, whole = 0, 1
    for v in values:
        if v is None:
            continue
        if not v.is_finite():
            return None
        sign, digits, exponent = v.as_tuple()
        scale = max(scale, -exponent)
        whole = max(whole, len(digits) + exponent)
    precision = whole + scale
    if precision <= 38:
        return pa.decimal128(precision, scale)
    if precision <= 76:
        return pa.decimal256(precision, scale)
    return None


def _arrow_table(snapshot: _Snapshot, report: Report):
    import pyarrow as pa

    simple = {"bool": pa.bool_(), "float": None, "date": pa.date32(), "time": pa.time64("us"),
              "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"),
              "text": pa.string()}
    int_types = {"smallint": pa.int16(), "integer": pa.int32(), "bigint": pa.int64()}
    arrays, fields = [], []
    columns = list(zip(*snapshot.rows, strict=True)) if snapshot.rows else [()] * len(snapshot.columns)
    for column, described, values in zip(snapshot.columns, report.columns, columns, strict=True):
        values = list(values)
        if column.kind == "int":
            type_ = int_types.get(column.type, pa.int64())
        elif column.kind == "float":
            type_ = pa.float32() if column.type == "real" else pa.float64()
        elif column.kind == "numeric":
            type_ = _decimal_type(values, column.typmod)
            if type_ is None:
                type_ = pa.string()
                values = [None if v is None else _numeric_text(v) for v in values]
        else:
            type_ = simple[column.kind]
        arrays.append(pa.array(values, type=type_))
        fields.append(pa.field(column.name, type_, metadata={
            "postgres_type": column.type, "description": described.description}))
    schema = pa.schema(fields, metadata={"report": report.name, "relation": report.relation,
                                         "description": report.description,
                                         "refreshed_at": report.refreshed_at})
    return pa.Table.from_arrays(arrays, schema=schema)


# --- writing the files --------------------------------------------------------------------


def write_csv(path: Path, names: Sequence[str], kinds: Sequence[str],
              rows: Iterable[Sequence[Any]], *, neutralise: bool | None = None) -> None:
    """Writes the CSV every Pulse report uses: a header, text quoted, NULL an empty
    unquoted field, numbers and times as text that reads back exactly. `kinds` holds each
    column's kind (a value of `_KINDS`; `value_kind` tells it from a Python value).

    Text that a spreadsheet would run as a formula (starting with one of
    `FORMULA_STARTS`) is prefixed with `'`, header included; numbers never are (a
    negative number stays a number). `neutralise` defaults to `neutralise_formulas()`.
    """
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.writelines(csv_lines(names, kinds, rows, neutralise=neutralise))


def csv_lines(names: Sequence[str], kinds: Sequence[str], rows: Iterable[Sequence[Any]], *,
              neutralise: bool | None = None) -> Iterator[str]:
    """`write_csv`'s lines, header first, each ending in a newline (the report API
    streams them)."""
    neutralise = neutralise_formulas() if neutralise is None else neutralise
    render = [_csv_field(kind, neutralise) for kind in kinds]
    header = _csv_field("text", neutralise)
    yield ",".join(header(name) for name in names) + "\n"
    for row in rows:
        yield ",".join("" if v is None else r(v) for r, v in zip(render, row, strict=True)) + "\n"


def value_kind(value: Any) -> str:
    """The CSV kind of a value read by psycopg2 (bool before int: a bool is an int)."""
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("numeric", Decimal),
                        ("timestamptz", dt.datetime), ("date", dt.date), ("time", dt.time)):
        if isinstance(value, types):
            return kind
    return "text"


def _write_csv(path: Path, snapshot: _Snapshot) -> None:
    write_csv(path, [c.name for c in snapshot.columns], [c.kind for c in snapshot.columns],
              snapshot.rows)


def _write_json(path: Path, snapshot: _Snapshot) -> None:
    columns = snapshot.columns
    values = list(zip(*snapshot.rows, strict=True)) if snapshot.rows else [()] * len(columns)
    render = [_json_value(c.kind, _json_number_safe(c.kind, v)) for c, v in zip(columns, values,
                                                                                 strict=True)]
    keys = [json.dumps(c.name, ensure_ascii=False) + ": " for c in columns]
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        for i, row in enumerate(snapshot.rows):
            f.write(",\n" if i else "\n")
            f.write("{" + ", ".join(k + ("null" if v is None else r(v))
                                    for k, r, v in zip(keys, render, row, strict=True)) + "}")
        f.write("\n]\n" if snapshot.rows else "]\n")


def _write_parquet(path: Path, table) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path)


def _read_meta(path: Path) -> Report | None:
    try:
        return Report.from_json(json.loads(path.read_text(encoding="utf-8")), path.parent)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("reports: skipping %s, which is not a report description: %s", path, err)
        return None


def export_report(schema: str, table: str, out_dir: Path | None = None, *,
                  conn: warehouse.Connection | None = None, name: str | None = None,
                  description: str | None = None,
                  column_descriptions: Mapping[str, str] | None = None,
                  model: ReportModel | None = None) -> Report:
    """The report written from `schema.table`: `<name>.csv|.parquet|.json` and `<name>.meta.json`.

    Reads as `conn`, by default the analyst role's connection (WAREHOUSE_URL's user
    with `PULSE_ROLES=off`). `name` defaults to the table name; descriptions default to
    the table's and columns' comments (dbt persists its docs there), and those given
    here (the dbt manifest's) win when not empty. Call `write_index` afterwards.

    The four files are written into a new version folder and published together, in
    one rename (pulse/publication.py); an export that read older data than the report
    already there (two runs at once) leaves the newer one in place and returns it.
    """
    name = name or table
    if not _NAME.match(name):
        raise ReportError(f"report name {name!r}: use letters, digits, '_', '.' or '-' only")
    out_dir = Path(out_dir) if out_dir is not None else reports_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    inside(out_dir, name, f"report {name}")
    conn = conn or roles.connection("analyst")
    relation = f"{schema}.{table}"
    snapshot = _read(conn, schema, table)
    column_descriptions = column_descriptions or {}
    columns = tuple(ReportColumn(c.name, c.type, column_descriptions.get(c.name) or c.description)
                    for c in snapshot.columns)
    files = {**{fmt: f"{name}.{fmt}" for fmt in FORMATS}, PAGE: f"{name}.{PAGE}"}
    report = Report(
        name=name, relation=relation, description=description or snapshot.description,
        columns=columns, row_count=len(snapshot.rows),
        refreshed_at=snapshot.read_at.isoformat(), read_as=snapshot.read_as,
        files=files, directory=out_dir, title=model.title if model else name,
        unique_id=model.unique_id if model else "",
    )
    meta_name = f"{name}{META_SUFFIX}"
    with publication.staged_version(out_dir, name) as staging:
        _write_csv(staging / files["csv"], snapshot)
        _write_json(staging / files["json"], snapshot)
        _write_parquet(staging / files["parquet"], _arrow_table(snapshot, report))
        (staging / files[PAGE]).write_text(_report_page(report, snapshot, model, conn), encoding="utf-8")
        (staging / meta_name).write_text(
            json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        published = publication.publish(out_dir, name, staging, read_at=snapshot.read_at,
                                        sources=[relation], links=[*files.values(), meta_name])
    if published.read_at > snapshot.read_at:  # a newer export of it finished first
        return _read_meta(out_dir / meta_name) or report
    log.info("reports: %s, %d rows from %s as %s, in %s", name, report.row_count, relation,
             report.read_as, out_dir)
    return report


def _report_page(report: Report, snapshot: _Snapshot, model: ReportModel | None,
                 conn: warehouse.Connection) -> str:
    """The report's portal page (pulse/portal.py), its chart drawn from these rows."""
    names = [c.name for c in snapshot.columns]
    schema = report.relation.split(".", 1)[0]
    try:
        svgs = portal.chart_svgs((model.portal if model else {}).get("chart"), names,
                                 snapshot.rows, report.title,
                                 areas=functools.cache(lambda layer: maps.read_areas(conn, schema, layer)))
    except ValueError as err:  # a chart declared wrong in the model's meta: say where
        raise ReportError(f"report {report.name}: {err} ({report.unique_id or 'its model'})") from err
    return portal.render_report_page(
        name=report.name, title=report.title, description=report.description,
        unique_id=report.unique_id or None, names=names, types=[c.type for c in snapshot.columns],
        rows=snapshot.rows, files={fmt: report.files[fmt] for fmt in FORMATS},
        refreshed_at=report.refreshed_at, svgs=svgs)


def prune_reports(out_dir: Path, models: Iterable[ReportModel]) -> list[str]:
    """Deletes the reports of `out_dir` read from relations that are not report marts of
    `models` (a mart removed from the project): files, versions and links, so they
    leave `index.html` at its next rebuild. Returns their names."""
    out_dir = Path(out_dir)
    relations = {f"{m.schema}.{m.table}" for m in models}
    removed = publication.prune_published(out_dir, relations)
    with publication.directory_lock(out_dir):
        for meta in sorted(out_dir.glob(f"*{META_SUFFIX}")):  # files of the layout before versions
            if meta.is_symlink() or (report := _read_meta(meta)) is None:
                continue
            if report.relation not in relations:
                for file_name in report.files.values():
                    inside(out_dir, file_name, f"report {report.name}").unlink(missing_ok=True)
                meta.unlink()
                removed.append(report.name)
    return removed


# --- the index ----------------------------------------------------------------------------


def read_reports(out_dir: Path | None = None) -> list[Report]:
    """The reports in `out_dir`, from their meta files, by name."""
    out_dir = Path(out_dir) if out_dir is not None else reports_dir()
    reports = [r for p in sorted(out_dir.glob(f"*{META_SUFFIX}")) if (r := _read_meta(p))]
    return [r for r in reports if all(r.path(fmt).exists() for fmt in FORMATS)]


def write_index(out_dir: Path | None = None) -> Path:
    """`index.html` in `out_dir`, rebuilt from every report's meta file; returns its path.

    Safe while other processes export: it runs under the folder's lock, after which
    every export that finished has its version in place; the last rebuild sees all.
    """
    out_dir = Path(out_dir) if out_dir is not None else reports_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / INDEX_FILE
    with publication.directory_lock(out_dir):
        page = render_index(read_reports(out_dir), _csv_folders(out_dir))
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{INDEX_FILE}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(page)
                f.flush()
                os.fsync(f.fileno())
            publication.shareable(Path(tmp))
            os.replace(tmp, index)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return index


def _csv_folders(out_dir: Path) -> dict[str, list[str]]:
    """Each folder of CSV files at the top of `out_dir` (e.g. one report per country):
    name -> its CSV file names. Hidden folders (the versions) are not reports."""
    folders = {d.name: sorted(p.name for p in d.glob("*.csv")) + (
                   [INDEX_FILE] if (d / INDEX_FILE).exists() else [])  # a dashboard of them
               for d in sorted(out_dir.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    return {name: files for name, files in folders.items() if files}


def _size(path: Path) -> str:
    size = path.stat().st_size
    if size < 1024:
        return f"{size:,} bytes"
    return f"{size / 1024:,.1f} KB" if size < 1024**2 else f"{size / 1024**2:,.1f} MB"


def _human_time(iso: str) -> str:
    try:
        return dt.datetime.fromisoformat(iso).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return iso


_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 64rem; margin: 2rem auto;
       padding: 0 1rem; color: #1d2433; }
h1 { font-size: 1.5rem; } h2.subject { font-size: 1.3rem; margin: 2rem 0 0; }
h3 { font-size: 1.1rem; margin: 0 0 .25rem; }
ul.contents { padding-left: 1.2rem; } ul.contents li { margin: .2rem 0; }
section { border-top: 1px solid #d8dde6; padding: 1.25rem 0; }
.meta { color: #566074; margin: .25rem 0 .75rem; }
.files a { margin-right: .75rem; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: .3rem .6rem .3rem 0; border-bottom: 1px solid #eef0f4;
         vertical-align: top; }
code { font: 13px ui-monospace, monospace; }
input[type=search] { font: inherit; padding: .35rem .5rem; width: min(24rem, 100%);
                     border: 1px solid #c5ccd8; border-radius: 4px; }
select { font: inherit; padding: .3rem; }
footer { color: #566074; font-size: 13px; border-top: 1px solid #d8dde6; padding-top: 1rem; }
"""


# Find (title, name and description) and sort the contents, within each subject.
_INDEX_JS = """
(function () {
  var find = document.getElementById('find'), sort = document.getElementById('sort');
  var found = document.getElementById('found'), lists = document.querySelectorAll('ul.contents');
  lists.forEach(function (ul) {
    Array.prototype.forEach.call(ul.children, function (li, i) { li.dataset.order = i; });
  });
  function draw() {
    var q = find.value.toLowerCase(), key = sort.value, shown = 0, all = 0;
    lists.forEach(function (ul) {
      var items = Array.prototype.slice.call(ul.children), visible = 0;
      items.sort(function (a, b) {
        if (key === 'title') return a.dataset.title.localeCompare(b.dataset.title);
        if (key === 'rows') return b.dataset.rows - a.dataset.rows;
        if (key === 'refreshed') return b.dataset.refreshed.localeCompare(a.dataset.refreshed);
        return a.dataset.order - b.dataset.order;
      });
      items.forEach(function (li) {
        var hit = !q || li.textContent.toLowerCase().indexOf(q) >= 0;
        li.hidden = !hit; visible += hit ? 1 : 0; ul.appendChild(li);
      });
      ul.parentNode.hidden = visible === 0; shown += visible; all += items.length;
    });
    found.textContent = q ? shown + ' of ' + all + ' match' : '';
  }
  find.addEventListener('input', draw); sort.addEventListener('change', draw);
  draw();
})();
"""


def render_index(reports: Sequence[Report], folders: Mapping[str, Sequence[str]] | None = None
                 ) -> str:
    """The index page: each report, its columns, row count, refresh time and files; then
    each folder of CSV files (`folders`: name -> file names), e.g. one report per country."""
    e = html.escape
    sections = []
    subject = None
    contents: dict[str, list[str]] = {}
    for r in sorted(reports, key=lambda r: (portal.subject_of(r.name), r.name)):
        link = r.files.get(PAGE, f"#{r.name}")
        contents.setdefault(portal.subject_of(r.name), []).append(
            f'<li data-title="{e((r.title or r.name).lower())}" data-rows="{r.row_count}" '
            f'data-refreshed="{e(r.refreshed_at)}"><a href="{e(link)}">{e(r.title or r.name)}</a> '
            f'<span class="meta">{r.row_count:,} rows, refreshed {e(_human_time(r.refreshed_at))}'
            f'</span> <span hidden>{e(r.name)} {e(r.description)}</span></li>')
        if portal.subject_of(r.name) != subject:
            subject = portal.subject_of(r.name)
            sections.append(f'<h2 class="subject">{e(subject)}: columns and files</h2>')
        rows = "\n".join(
            f"<tr><td><code>{e(c.name)}</code></td><td><code>{e(c.type)}</code></td>"
            f"<td>{e(c.description)}</td></tr>" for c in r.columns)
        links = " ".join(
            f'<a href="{e(r.files[fmt])}">{fmt.upper()}</a> <small>({_size(r.path(fmt))})</small>'
            for fmt in FORMATS)
        page = (f'<a href="{e(r.files[PAGE])}">{e(r.title or r.name)}</a>' if PAGE in r.files
                else e(r.title or r.name))
        sections.append(f"""<section id="{e(r.name)}">
<h3>{page} <small><code>{e(r.name)}</code></small></h3>
<p>{e(r.description)}</p>
<p class="meta"><span class="rows">{r.row_count:,} rows</span> &middot; refreshed
<time datetime="{e(r.refreshed_at)}">{e(_human_time(r.refreshed_at))}</time> &middot; from
<code>{e(r.relation)}</code></p>
<p class="files">{links}</p>
<table><thead><tr><th>column</th><th>type</th><th>description</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</section>""")
    for folder, files in (folders or {}).items():
        names = [n for n in files if n != INDEX_FILE]
        links = " ".join(f'<a href="{e(folder)}/{e(n)}">{e(n.removesuffix(".csv"))}</a>'
                         for n in names)
        dashboard = (f' <a href="{e(folder)}/{INDEX_FILE}">The {e(folder)} dashboard</a>: a page '
                     f'per {e(folder.removesuffix("s"))}, with charts.' if INDEX_FILE in files else "")
        if dashboard:
            contents.setdefault(folder.title(), []).append(
                f'<li><a href="{e(folder)}/{INDEX_FILE}">{e(folder.title())} dashboard</a> '
                f'<span class="meta">{len(names):,} {e(folder)}, a page each</span></li>')
        sections.append(f"""<section id="{e(folder)}">
<h2>{e(folder)}/</h2>
<p>{len(names):,} CSV file{"" if len(names) == 1 else "s"}, one per {e(folder.removesuffix("s"))}.
{dashboard}</p>
<p class="files">{links}</p>
</section>""")
    body = "\n".join(sections) or "<p>No reports exported yet: run <code>pulse reports</code>.</p>"
    formulas = (", text starting with = + - @, a tab or a carriage return prefixed with '"
                if neutralise_formulas() else "")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulse reports</title>
<style>{_CSS}</style>
</head>
<body>
<h1>Pulse reports</h1>
<p>{len(reports)} report{"" if len(reports) == 1 else "s"}, each with a page (a chart and its
rows) and as CSV, Parquet and JSON.</p>
<p><input type="search" id="find" placeholder="Find a report: crimes, GDP, googlebot..."
aria-label="Find a report"> <label>Sort by <select id="sort">
<option value="">subject</option><option value="title">title</option>
<option value="rows">most rows</option><option value="refreshed">latest refresh</option>
</select></label> <span id="found" class="meta"></span></p>
{"".join(f'<div class="group"><h2 class="subject">{e(name)}</h2><ul class="contents">'
         f'{"".join(items)}</ul></div>' for name, items in contents.items())}
{body}
<script>{_INDEX_JS}</script>
<footer>CSV: UTF-8, text always quoted, NULL an empty unquoted field{formulas}. JSON: an array of rows;
dates and timestamps ISO 8601 (UTC); numbers are JSON numbers when every reader keeps them
exactly, else strings. Parquet: typed, numerics as decimals. Rows as of the refresh time.
</footer>
</body>
</html>
"""


# --- every report at once -------------------------------------------------------------------


def export_all(manifest_path: Path, out_dir: Path | None = None
               ) -> tuple[list[Report], list[ReportError]]:
    """Every report mart of the manifest exported, then the index: (written, failed).

    A mart that cannot be read (not built yet, not granted) does not stop the others
    and keeps its last files; the reports of marts no longer in the manifest are deleted.
    """
    out_dir = Path(out_dir) if out_dir is not None else reports_dir()
    conn = roles.connection("analyst")
    written, failed = [], []
    models = report_models(manifest_path)
    for model in models:
        try:
            written.append(export_report(
                model.schema, model.table, out_dir, conn=conn, name=model.name,
                description=model.description, column_descriptions=model.column_descriptions,
                model=model))
        except ReportError as err:
            failed.append(err)
    prune_reports(out_dir, models)
    write_index(out_dir)
    return written, failed
