"""Real OECD SDMX-CSV files parse as they are, and load through the source into raw_oecd.

The files (realdata/oecd, codes only: format=csv) are real downloads: each has a different
set and order of dimensions. No real labelled file exists, so the labelled layout (what an
updatedAfter query returns, with ACTION I/R/D) is written here after OECD's format.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.oecd import OecdError, dataflow_pipeline, load_dataflow
from pipelines.oecd.sdmx_csv import CODES_ONLY, CODES_WITH_ACTIONS, WITH_LABELS, SdmxCsvError, parse_sdmx_csv
from tests.conftest import REALDATA, query

OECD = REALDATA / "oecd"

FILES = {
    # name: (file, data lines, dimensions in file order, empty OBS_VALUE, UNIT_MULT values)
    "population": ("DSD_POPULATION@DF_POP_HIST__population__sdmx-csv1.csv", 16224,
                   ("REF_AREA", "MEASURE", "UNIT_MEASURE", "SEX", "AGE", "TIME_HORIZ"), 0, {0}),
    "gdp": ("DSD_REF_GLOBAL@DF_REFSERIES_GLOBAL__gdp__sdmx-csv1.csv", 2688,
            ("REF_AREA", "MEASURE", "UNIT_MEASURE", "FREQ"), 0, {3, 6, 9}),
    "debt": ("DSD_GOV@DF_GOV_PF_YU__debt__sdmx-csv1.csv", 695,
             ("FREQ", "REF_AREA", "MEASURE", "UNIT_MEASURE", "SECTOR", "EDITION", "CATEGORY"), 5, None),
}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", FILES)
def test_real_file_parses(name):
    file, lines, dims, empty, unit_mults = FILES[name]
    path = OECD / file
    parsed = parse_sdmx_csv(path.read_text(), name, str(path))
    raw = _csv_rows(path)

    assert parsed.layout == CODES_ONLY
    assert parsed.num_rows == lines == len(raw)
    assert parsed.dimensions == dims
    table = parsed.table
    assert table.column_names[: len(dims) + 1] == ["dataflow", *(d.lower() for d in dims)]
    assert table["obs_value"].null_count == empty
    assert sum(r["OBS_VALUE"] == "" for r in raw) == empty
    if unit_mults is not None:
        assert set(table["unit_mult"].to_pylist()) == unit_mults  # kept, never applied
    rows = table.to_pylist()
    for row, source in zip(rows, raw, strict=True):
        assert row["series_key"] == ".".join(source[d] for d in dims)
        assert row["time_period"] == source["TIME_PERIOD"]
        assert row["dataflow"] == source["DATAFLOW"]
        expected = float(source["OBS_VALUE"]) if source["OBS_VALUE"] else None
        assert row["obs_value"] == expected
        assert row["deleted"] is False
        assert int(row["unit_mult"]) == int(source["UNIT_MULT"])
    # every (series_key, time_period) is one observation: the merge key is a key
    assert len({(r["series_key"], r["time_period"]) for r in rows}) == lines


def test_real_dimensions_differ_between_files():
    parsed = {name: parse_sdmx_csv((OECD / f).read_text(), name).dimensions
              for name, (f, *_) in FILES.items()}
    assert len(set(parsed.values())) == 3
    assert parsed["debt"][0] == "FREQ" and parsed["gdp"][-1] == "FREQ"  # the order is the file's


GDP_FLOW = "OECD.CTP.TPS:DSD_REF_GLOBAL@DF_REFSERIES_GLOBAL(1.1)"
LABELLED = (
    "STRUCTURE,STRUCTURE_ID,STRUCTURE_NAME,ACTION,REF_AREA,Reference area,MEASURE,Measure,"
    "UNIT_MEASURE,Unit of measure,FREQ,Frequency of observation,TIME_PERIOD,Time period,"
    "OBS_VALUE,Observation value,OBS_STATUS,Observation status,UNIT_MULT,Unit multiplier,"
    "DECIMALS,Decimals,CURRENCY,Currency\r\n"
    f'DATAFLOW,{GDP_FLOW},"Reference series, global",R,CIV,Côte d\'Ivoire,B1GQ_V,'
    "Gross domestic product,USD,US dollar,A,Annual,2013,,50000.5,Observation value,A,Normal value,6,"
    "Millions,1,One,,\r\n"
    f'DATAFLOW,{GDP_FLOW},"Reference series, global",D,CIV,Côte d\'Ivoire,B1GQ_V,'
    "Gross domestic product,USD,US dollar,A,Annual,2014,,,,,,,,,,,\r\n"
    f'DATAFLOW,{GDP_FLOW},"Reference series, global",I,ZZZ,Nowhere,B1GQ_V,'
    "Gross domestic product,XDC,National currency,A,Annual,2030,,7,,E,Estimated value,9,Billions,"
    "0,Zero,ZZD,Zed dollar\r\n"
)


def test_labelled_layout_with_actions():
    parsed = parse_sdmx_csv(LABELLED, "gdp", "inline")
    assert parsed.layout == WITH_LABELS
    assert parsed.dimensions == ("REF_AREA", "MEASURE", "UNIT_MEASURE", "FREQ")
    assert parsed.attributes == ("OBS_STATUS", "UNIT_MULT", "DECIMALS", "CURRENCY")
    assert parsed.table.column_names == [
        "dataflow", "ref_area", "measure", "unit_measure", "freq", "series_key", "time_period",
        "obs_value", "obs_status", "unit_mult", "decimals", "currency", "deleted"]
    revised, deleted, added = parsed.table.to_pylist()
    assert revised == {"dataflow": GDP_FLOW, "ref_area": "CIV", "measure": "B1GQ_V",
                       "unit_measure": "USD", "freq": "A", "series_key": "CIV.B1GQ_V.USD.A",
                       "time_period": "2013", "obs_value": 50000.5, "obs_status": "A",
                       "unit_mult": 6, "decimals": 1, "currency": None, "deleted": False}
    assert deleted["deleted"] is True and deleted["obs_value"] is None
    assert added["series_key"] == "ZZZ.B1GQ_V.XDC.A" and added["unit_mult"] == 9
    assert added["currency"] == "ZZD"


def test_codes_with_actions_layout():
    """format=csvfile: SDMX-CSV 2.0 with ACTION but no labels; every column is a code."""
    body = ("STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA,MEASURE,UNIT_MEASURE,FREQ,TIME_PERIOD,"
            "OBS_VALUE,OBS_STATUS,UNIT_MULT,DECIMALS,CURRENCY\r\n"
            f"DATAFLOW,{GDP_FLOW},D,CIV,B1GQ_V,USD,A,2014,,,,,\r\n")
    parsed = parse_sdmx_csv(body, "gdp", "inline")
    assert parsed.layout == CODES_WITH_ACTIONS
    assert parsed.dimensions == ("REF_AREA", "MEASURE", "UNIT_MEASURE", "FREQ")
    assert parsed.attributes == ("OBS_STATUS", "UNIT_MULT", "DECIMALS", "CURRENCY")
    assert parsed.table.to_pylist()[0]["series_key"] == "CIV.B1GQ_V.USD.A"
    assert parsed.deleted == 1


@pytest.mark.parametrize("body, expected", [
    ("<!DOCTYPE html><html><body>Service unavailable</body></html>", "returned an HTML page"),
    ("id,name\n1,x\n", "is not SDMX-CSV"),
    ("DATAFLOW,REF_AREA,OBS_VALUE\nX,A,1\n", "no TIME_PERIOD column"),
    (f"DATAFLOW,REF_AREA,TIME_PERIOD,OBS_VALUE,UNIT_MULT\n{GDP_FLOW},A,2020,1,0\n"
     f"{GDP_FLOW},B,2020,12;5,0\n", "line 3, column OBS_VALUE: '12;5' is not a number"),
    (f"DATAFLOW,REF_AREA,TIME_PERIOD,OBS_VALUE,UNIT_MULT\n{GDP_FLOW},A,2020,1,six\n",
     "line 2, column UNIT_MULT: 'six' is not a whole number"),
    (f"DATAFLOW,REF_AREA,TIME_PERIOD,OBS_VALUE\n{GDP_FLOW},A,2020\n", "line 2 has 3 fields"),
])
def test_bad_bodies_fail_clearly(body, expected):
    with pytest.raises(SdmxCsvError) as failure:
        parse_sdmx_csv(body, "gdp", "http://oecd.test/data/x")
    message = str(failure.value)
    assert expected in message
    assert "dataflow gdp" in message and "http://oecd.test/data/x" in message


# --- the real gdp file through the source, over real HTTP, into raw_oecd --------------------

class _Upstream:
    """A tiny SDMX server: answers every data query with the next queued (status, body)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str]] = []
        self.requests: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                upstream.requests.append(self.path)
                status, body = upstream.answers.pop(0) if upstream.answers else (404, "NoResultsFound")
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/csv" if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/public/rest"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    server = _Upstream()
    yield server
    server.close()


def _raw_gdp(conn) -> dict[tuple[str, str], tuple]:
    rows = query(conn, "select series_key, time_period, obs_value, unit_mult, obs_status "
                       "from raw_oecd.gdp")
    return {(k, t): (v, m, s) for k, t, v, m, s in rows}


def test_real_gdp_file_loads_then_applies_changes(upstream, warehouse_db, tmp_path):
    query(warehouse_db, "drop schema if exists raw_oecd cascade")
    pipeline = dataflow_pipeline("gdp", pipelines_dir=tmp_path / "dlt")
    args = {"base_url": upstream.url, "min_seconds_between_requests": 0, "credentials": warehouse_db.url()}
    real = (OECD / FILES["gdp"][0]).read_text()

    upstream.answers.append((200, real))
    load_dataflow("gdp", pipeline, **args)
    first = upstream.requests[-1]
    assert first.startswith("/public/rest/data/OECD.CTP.TPS,DSD_REF_GLOBAL@DF_REFSERIES_GLOBAL,1.1/"
                            ".B1GQ_V..A?startPeriod=")
    assert "format=csv" in first and "updatedAfter" not in first
    loaded = _raw_gdp(warehouse_db)
    assert len(loaded) == 2688
    assert loaded[("CIV.B1GQ_V.USD.A", "2013")] == (43228.0, 6, "A")
    columns = dict(query(warehouse_db, "select column_name, data_type from information_schema.columns "
                                       "where table_schema = 'raw_oecd' and table_name = 'gdp'"))
    assert columns["obs_value"] == "double precision" and columns["unit_mult"] == "bigint"
    assert columns["deleted"] == "boolean" and columns["ref_area"] == "character varying"  # dlt text

    upstream.answers.append((200, LABELLED))
    load_dataflow("gdp", pipeline, **args)
    later = upstream.requests[-1]
    assert "format=csvfilewithlabels" in later and "updatedAfter=" in later
    after = _raw_gdp(warehouse_db)
    assert after[("CIV.B1GQ_V.USD.A", "2013")] == (50000.5, 6, "A")  # revised
    assert ("CIV.B1GQ_V.USD.A", "2014") not in after  # deleted
    assert after[("ZZZ.B1GQ_V.XDC.A", "2030")] == (7.0, 9, "E")  # added
    assert len(after) == 2688
    assert set(after) - {("ZZZ.B1GQ_V.XDC.A", "2030")} == set(loaded) - {("CIV.B1GQ_V.USD.A", "2014")}

    # nothing changed: 404 NoResultsFound loads nothing and leaves the table as it was
    load_dataflow("gdp", pipeline, **args)
    assert _raw_gdp(warehouse_db) == after

    # a bad row fails the load clearly; the table and the cursor stay
    cursor = pipeline.state["sources"]["oecd_gdp"]["resources"]["gdp"]["last_request_started_at"]
    upstream.answers.append((200, LABELLED.replace("50000.5", "5O000")))
    with pytest.raises(OecdError, match=r"dataflow gdp: GET http://127\.0\.0\.1.*line 2, column OBS_VALUE"):
        load_dataflow("gdp", pipeline, **args)
    assert _raw_gdp(warehouse_db) == after
    assert pipeline.state["sources"]["oecd_gdp"]["resources"]["gdp"]["last_request_started_at"] == cursor
