"""SDMX-CSV bodies (both layouts OECD serves) as typed Arrow tables for raw_oecd.<dataflow>.

Codes only (`format=csv`, SDMX-CSV 1.0), one header row:

    DATAFLOW,REF_AREA,MEASURE,...,TIME_PERIOD,OBS_VALUE,OBS_STATUS,UNIT_MULT,DECIMALS

With labels (`format=csvfilewithlabels`, SDMX-CSV 2.0), which also says what changed:

    STRUCTURE,STRUCTURE_ID,STRUCTURE_NAME,ACTION,REF_AREA,Reference area,...,
    TIME_PERIOD,Time period,OBS_VALUE,Observation value,OBS_STATUS,Observation status,...

The dimensions are the code columns between DATAFLOW (or ACTION) and TIME_PERIOD, in the
file's order, which is the dataflow's; every code column after OBS_VALUE is an attribute.
A label column is recognised by its header: not an SDMX id (REF_AREA) but words
("Reference area"); labels are dropped, codes are kept (dbt joins codes).

The row: dataflow, one text column per dimension (lowercased), series_key (the dimension
codes joined by "."), time_period, obs_value (double; "" or NaN -> null), every attribute
lowercased (unit_mult and decimals as integers, the rest text, "" -> null), deleted
(ACTION D). UNIT_MULT is kept, never applied: dbt scales by 10^unit_mult.

A body that is not SDMX-CSV, or a row with a value that is not a number where one is due,
raises SdmxCsvError naming the dataflow, URL, line and column: we fail the load rather than
set the row aside, since a half-parsed dataflow would move the cursor past the bad row.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass

import pyarrow as pa

SDMX_ID = re.compile(r"^[A-Z][A-Z0-9_]*$")
INTEGER_ATTRIBUTES = ("UNIT_MULT", "DECIMALS")
CODES_ONLY, WITH_LABELS, CODES_WITH_ACTIONS = "csv", "csvfilewithlabels", "csvfile"
_MISSING = ("", "NaN", "nan")


class SdmxCsvError(ValueError):
    """A body or row that is not the SDMX-CSV we asked for; the message says where.

    `retriable`: an HTML page or a cut body may be a proxy's hiccup; a bad value is not.
    """

    def __init__(self, message: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


@dataclass(frozen=True)
class SdmxCsv:
    """A parsed body: its layout, components (SDMX ids, in file order) and typed rows."""

    layout: str  # CODES_ONLY or WITH_LABELS
    dimensions: tuple[str, ...]
    attributes: tuple[str, ...]
    table: pa.Table

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    @property
    def deleted(self) -> int:
        return self.table["deleted"].to_pylist().count(True)


@dataclass(frozen=True)
class _Layout:
    layout: str
    dataflow: int  # index of DATAFLOW / STRUCTURE_ID
    action: int | None
    dimensions: tuple[tuple[str, int], ...]  # (SDMX id, column index)
    time_period: int
    obs_value: int
    attributes: tuple[tuple[str, int], ...]


def parse_sdmx_csv(text: str, dataflow: str = "?", url: str = "?") -> SdmxCsv:
    """The body as an SdmxCsv; raises SdmxCsvError naming `dataflow`, `url`, line and column."""
    where = f"dataflow {dataflow}: GET {url}"
    text = text.lstrip("\ufeff")
    if text.lstrip()[:1] == "<":
        kind = "an HTML page" if "<html" in text[:500].lower() else "XML"
        raise SdmxCsvError(
            f"{where} returned {kind} where SDMX-CSV was expected (first line: "
            f"{_first_line(text)!r}). OECD or a proxy in between may be down: retry later.",
            retriable=True)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise SdmxCsvError(f"{where} returned an empty body where SDMX-CSV was expected; "
                           f"retry later.", retriable=True)
    layout = _layout(header, where)
    columns = _Columns(layout, where)
    width = len(header)
    for row in reader:
        if not row:
            continue  # a trailing blank line
        if len(row) != width:
            raise SdmxCsvError(f"{where}: line {reader.line_num} has {len(row)} fields, the header "
                               f"has {width}: the body is cut or not SDMX-CSV. Retry later.",
                               retriable=True)
        columns.add(row, reader.line_num)
    return SdmxCsv(layout.layout, tuple(d for d, _ in layout.dimensions),
                   tuple(a for a, _ in layout.attributes), columns.table())


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:120] if text.strip() else ""


def _layout(header: list[str], where: str) -> _Layout:
    header = [h.strip() for h in header]
    expected = ("expected SDMX-CSV: a header starting DATAFLOW (format=csv) or "
                "STRUCTURE,STRUCTURE_ID,...,ACTION (format=csvfilewithlabels), with TIME_PERIOD "
                "and OBS_VALUE columns (dimensionAtObservation=AllDimensions)")
    if header[0] == "DATAFLOW":
        layout, flow, action, first = CODES_ONLY, 0, None, 1
    elif header[:2] == ["STRUCTURE", "STRUCTURE_ID"] and "ACTION" in header:
        # csvfilewithlabels names the structure too; csvfile (SDMX-CSV 2.0, codes only) does not
        layout = WITH_LABELS if "STRUCTURE_NAME" in header else CODES_WITH_ACTIONS
        flow, action = 1, header.index("ACTION")
        first = action + 1
    else:
        raise SdmxCsvError(f"{where}: the header {','.join(header)[:200]!r} is not SDMX-CSV; "
                           f"{expected}.", retriable=True)
    codes = _code_columns(header, first, labelled=layout == WITH_LABELS)
    names = [h for h, _ in codes]
    for needed in ("TIME_PERIOD", "OBS_VALUE"):
        if needed not in names:
            raise SdmxCsvError(f"{where}: the header has no {needed} column; {expected}.")
    time_at, value_at = names.index("TIME_PERIOD"), names.index("OBS_VALUE")
    if time_at == 0 or value_at < time_at:
        raise SdmxCsvError(f"{where}: the header {','.join(header)[:200]!r} has no dimension "
                           f"before TIME_PERIOD or OBS_VALUE before it; {expected}.")
    return _Layout(layout, flow, action, tuple(codes[:time_at]), codes[time_at][1],
                   codes[value_at][1], tuple(c for c in codes[value_at + 1:] if c[0] != "ACTION"))


def _code_columns(header: list[str], first: int, labelled: bool) -> list[tuple[str, int]]:
    """The code columns from `first` on. A labelled header has strict code,label pairs;
    when every pair's first header is an SDMX id and some label is not, that is the reading
    (a label may itself look like an id). Else each id column is a code and anything else a
    label."""
    rest = header[first:]
    if labelled and len(rest) % 2 == 0 and all(SDMX_ID.match(h) for h in rest[::2]) and not all(
            SDMX_ID.match(h) for h in rest[1::2]):
        return [(h, first + i) for i, h in enumerate(rest) if i % 2 == 0]
    return [(h, first + i) for i, h in enumerate(rest) if SDMX_ID.match(h)]


class _Columns:
    """Accumulates typed values column by column (faster than row dicts into Arrow)."""

    def __init__(self, layout: _Layout, where: str) -> None:
        self.layout, self.where = layout, where
        self.flow: list[str] = []
        self.dims: list[list[str]] = [[] for _ in layout.dimensions]
        self.keys: list[str] = []
        self.periods: list[str] = []
        self.values: list[float | None] = []
        self.attrs: list[list] = [[] for _ in layout.attributes]
        self.deleted: list[bool] = []
        self._dims = [i for _, i in layout.dimensions]

    def add(self, row: list[str], line: int) -> None:
        lay = self.layout
        self.flow.append(row[lay.dataflow])
        codes = [row[i] for i in self._dims]
        for column, code in zip(self.dims, codes, strict=True):
            column.append(code)
        self.keys.append(".".join(codes))
        self.periods.append(row[lay.time_period])
        self.values.append(self._number(row[lay.obs_value], float, line, "OBS_VALUE"))
        for column, (name, i) in zip(self.attrs, lay.attributes, strict=True):
            value = row[i]
            if name in INTEGER_ATTRIBUTES:
                column.append(self._number(value, int, line, name))
            else:
                column.append(value if value != "" else None)
        action = row[lay.action].strip().upper() if lay.action is not None else "I"
        if action not in ("I", "R", "D", "A", "M"):
            raise SdmxCsvError(f"{self.where}: line {line}, column ACTION: {action!r} is not one "
                               f"of I (new), R (revised), D (deleted)")
        self.deleted.append(action == "D")

    def _number(self, text: str, kind: type, line: int, column: str) -> float | int | None:
        text = text.strip()
        if text in _MISSING:
            return None
        try:
            number = float(text)
            if kind is int:
                if not number.is_integer():
                    raise ValueError(text)
                return int(number)
            if not math.isinf(number):
                return number
        except ValueError:
            pass
        raise SdmxCsvError(
            f"{self.where}: line {line}, column {column}: {text[:40]!r} is not "
            f"{'a number' if kind is float else 'a whole number'}. The load stops here rather "
            f"than skip the row; report it to OECD or narrow the dataflow's key in "
            f"pipelines/oecd/dataflows.yml.")

    def table(self) -> pa.Table:
        lay = self.layout
        arrays: dict[str, pa.Array] = {"dataflow": pa.array(self.flow, pa.string())}
        for (name, _), values in zip(lay.dimensions, self.dims, strict=True):
            arrays[name.lower()] = pa.array(values, pa.string())
        arrays["series_key"] = pa.array(self.keys, pa.string())
        arrays["time_period"] = pa.array(self.periods, pa.string())
        arrays["obs_value"] = pa.array(self.values, pa.float64())
        for (name, _), values in zip(lay.attributes, self.attrs, strict=True):
            kind = pa.int64() if name in INTEGER_ATTRIBUTES else pa.string()
            arrays[name.lower()] = pa.array(values, kind)
        arrays["deleted"] = pa.array(self.deleted, pa.bool_())
        return pa.table(arrays)
