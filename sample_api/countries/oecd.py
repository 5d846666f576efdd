"""OECD SDMX REST data queries (`/public/rest/data/...`) answered from a `CountryUniverse`.

    /public/rest/data/<AGENCY>,<DSD@DF>,<VERSION or empty>/<KEY>?startPeriod=&endPeriod=
        &dimensionAtObservation=AllDimensions&format=csv|csvfile|csvfilewithlabels[&updatedAfter=]

The key filters each dimension in the dataflow's order ("." between dimensions, "+" between
codes, empty = any; "all" or no key = everything). format=csv is SDMX-CSV 1.0 as in the
recorded files (DATAFLOW, dimensions, TIME_PERIOD, OBS_VALUE, attributes, CRLF lines);
csvfilewithlabels is SDMX-CSV 2.0 with a label column after each code and an ACTION column
(I on a full query; I, R or D after updatedAfter). Nothing to return is a 404 NoResultsFound,
an unknown dataflow a 404 NoStructureFound, both text/plain as sdmx.oecd.org answers.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from urllib.parse import unquote

from ..server import _Reply as Reply
from .economies import CURRENCY_NAMES
from .universe import OECD_AREAS, CountryUniverse, Observation, OecdDataflow

CSV = "application/vnd.sdmx.data+csv; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
FORMATS = ("csv", "csvfile", "csvfilewithlabels")
PREFIX = "/public/rest/data/"
NO_RESULTS = "NoResultsFound"
NO_STRUCTURE = "NoStructureFound: Could not find Dataflow and/or DSD related with this data request"
LATEST = ("", "latest", "~", "*", "+")

COLUMN_LABELS = {
    "REF_AREA": "Reference area", "MEASURE": "Measure", "UNIT_MEASURE": "Unit of measure",
    "SEX": "Sex", "AGE": "Age", "TIME_HORIZ": "Time horizon", "FREQ": "Frequency of observation",
    "SOCIO_ECON_STATUS": "Socio-economic status", "DEATH_CAUSE": "Cause of death",
    "TIME_PERIOD": "Time period", "OBS_VALUE": "Observation value",
    "OBS_STATUS": "Observation status", "UNIT_MULT": "Unit multiplier", "DECIMALS": "Decimals",
    "CURRENCY": "Currency",
}
CODE_LABELS: dict[str, dict[str, str]] = {
    "MEASURE": {"POP": "Population", "LFEXP": "Life expectancy",
                "B1GQ_V": "Gross domestic product, current prices"},
    "UNIT_MEASURE": {"PS": "Persons", "Y": "Years", "USD": "US dollars", "XDC": "National currency"},
    "SEX": {"_T": "Total", "F": "Female", "M": "Male"},
    "AGE": {"_T": "Total", "Y_LT15": "Under 15 years", "Y15T64": "From 15 to 64 years",
            "Y_GE65": "65 years or over", "Y0": "At birth", "Y65": "65 years"},
    "TIME_HORIZ": {"H": "Historical"},
    "FREQ": {"A": "Annual"},
    "SOCIO_ECON_STATUS": {"_T": "Total"},
    "DEATH_CAUSE": {"_T": "Total"},
    "OBS_STATUS": {"A": "Normal value", "E": "Estimated value", "P": "Provisional value",
                   "M": "Missing value"},
    "UNIT_MULT": {"0": "Units", "3": "Thousands", "6": "Millions", "9": "Billions"},
    "DECIMALS": {"0": "Zero", "1": "One", "2": "Two", "3": "Three"},
    "CURRENCY": CURRENCY_NAMES,
}


def is_data_path(path: str) -> bool:
    return path.startswith(PREFIX)


def _text(status: int, message: str) -> Reply:
    return Reply(status, message.encode(), TEXT)


def find_dataflow(universe: CountryUniverse, flowref: str) -> OecdDataflow | None:
    """The dataflow an `AGENCY,ID[,VERSION]` reference names (empty version: latest)."""
    parts = flowref.split(",")
    if len(parts) == 1:
        parts = ["all", *parts]
    agency, flow_id, version = (parts + [""])[:3]
    for flow in universe.oecd_dataflows.values():
        if flow.id == flow_id and agency in (flow.agency, "all", "*") and (
                version in LATEST or version == flow.version):
            return flow
    return None


def handle(universe: CountryUniverse, path: str, params: dict[str, str], *, empty: bool = False) -> Reply:
    """The reply to one data query; `empty` answers with the header only (a fault)."""
    segments = [unquote(s) for s in path[len(PREFIX):].split("/")]
    flow = find_dataflow(universe, segments[0])
    if flow is None:
        return _text(404, NO_STRUCTURE)
    fmt = params.get("format", "csv").lower()
    if fmt not in FORMATS:
        return _text(406, f"NotAcceptable: format {params.get('format')!r} is not served; "
                          f"use one of {', '.join(FORMATS)}")
    key = segments[1] if len(segments) > 1 else ""
    try:
        wanted = _key_filter(flow, key)
        first = _year(params.get("startPeriod"), "startPeriod")
        last = _year(params.get("endPeriod"), "endPeriod")
        after = _instant(params.get("updatedAfter"))
    except ValueError as err:
        return _text(400, f"Semantic Error - {err}")
    if after is None:
        changes = universe.oecd_current(flow.name)
    else:
        changes = universe.oecd_changes(flow.name, after)
        if fmt == "csv":  # SDMX-CSV 1.0 has no ACTION column to carry a deletion
            changes = [c for c in changes if c[0] != "D"]
    selected = [c for c in changes if _matches(c[1], wanted) and first <= int(c[2][:4]) <= last]
    if not selected and not empty:
        return _text(404, NO_RESULTS)
    if empty:
        selected = []
    body = _write(universe, flow, fmt, selected)
    return Reply(200, body, CSV, rows=len(selected))


def _key_filter(flow: OecdDataflow, key: str) -> list[set[str] | None]:
    if key in ("", "all", "ALL"):
        return [None] * len(flow.dimensions)
    parts = key.split(".")
    if len(parts) != len(flow.dimensions):
        raise ValueError(f"the key {key!r} has {len(parts)} dimensions, {flow.id} has "
                         f"{len(flow.dimensions)}: {'.'.join(flow.dimensions)}")
    return [set(p.split("+")) if p else None for p in parts]


def _matches(series: tuple[str, ...], wanted: list[set[str] | None]) -> bool:
    return all(w is None or code in w for code, w in zip(series, wanted, strict=True))


def _year(text: str | None, name: str) -> int:
    if not text:
        return -10**9 if name == "startPeriod" else 10**9
    if not text[:4].isdigit():
        raise ValueError(f"{name}={text!r} is not a period (expected e.g. 2010 or 2010-01)")
    return int(text[:4])


def _instant(text: str | None) -> float | None:
    """updatedAfter as epoch seconds; a '+' offset decoded as a space is put back."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        raise ValueError(f"updatedAfter={text!r} is not an ISO 8601 instant "
                         "(expected e.g. 2026-11-23T07:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _write(universe: CountryUniverse, flow: OecdDataflow,
           fmt: str, changes: list[tuple[str, tuple[str, ...], str, Observation | None]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)  # CRLF line ends, as sdmx.oecd.org
    if fmt == "csv":
        writer.writerow(flow.columns)
        for _action, series, period, o in changes:
            assert o is not None
            writer.writerow((flow.ref, *series, period, o.obs_value(), *o.attrs))
        return out.getvalue().encode()
    labelled = fmt == "csvfilewithlabels"
    head = ["STRUCTURE", "STRUCTURE_ID", *(["STRUCTURE_NAME"] if labelled else []), "ACTION"]
    for column in (*flow.dimensions, "TIME_PERIOD", "OBS_VALUE", *flow.attributes):
        head += [column, COLUMN_LABELS[column]] if labelled else [column]
    writer.writerow(head)
    areas = {**universe.oecd_areas, **{a: n for a, (n, _) in OECD_AREAS.items()}}
    blank_attrs = ("",) * len(flow.attributes)
    for action, series, period, o in changes:
        row = ["DATAFLOW", flow.ref, *([flow.title] if labelled else []), action]
        for dim, code in zip(flow.dimensions, series, strict=True):
            row.append(code)
            if labelled:
                row.append(areas.get(code, code) if dim == "REF_AREA" else CODE_LABELS[dim].get(code, code))
        value, attrs = ("", blank_attrs) if o is None else (o.obs_value(), o.attrs)
        row += [period, ""] if labelled else [period]
        row += [value, ""] if labelled else [value]
        for attr, code in zip(flow.attributes, attrs, strict=True):
            row.append(code)
            if labelled:
                row.append(CODE_LABELS[attr].get(code, code) if code else "")
        writer.writerow(row)
    return out.getvalue().encode()
