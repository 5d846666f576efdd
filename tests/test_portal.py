"""The portal's pages, opened as analysts open them: in a real browser (Debian's headless
Chromium). Every report mart's page, drawn from rows shaped like its declared columns
with the chart its model declares, shows its chart (an SVG with marks) and its table,
and logs no console error; a page exported from a real mart does too."""

from __future__ import annotations

import datetime as dt
import random
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from pulse import charts, maps, portal
from pulse.reports import PAGE, export_report, report_models_in, write_index
from tests.conftest import query


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    return found


def open_in_browser(page: Path) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran, and the console's errors."""
    run = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    errors = [line for line in run.stderr.splitlines()
              if "CONSOLE" in line and ("Error" in line or "Uncaught" in line)]
    return run.stdout, errors


def value_for(data_type: str, rank: int, rng: random.Random):
    kind = (data_type or "text").lower()
    if kind == "date":
        return dt.date(2026, 1, 1) + dt.timedelta(days=rank % 40)
    if "timestamp" in kind:
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=rank % 60)
    if kind in ("integer", "bigint", "smallint"):
        return rng.randint(0, 500)
    if kind.startswith(("numeric", "double", "real")):
        return Decimal(str(round(rng.uniform(0, 100), 3)))
    if kind == "boolean":
        return rank % 2 == 0
    return f"value {rank % 7}"


def synthetic_areas(layer: str) -> dict[str, maps.Area]:
    """The sample API's boundary layers, keyed as dim_chicago__boundaries keys them."""
    from sample_api import boundaries

    if layer == "community_area":
        features = [(f["properties"]["area_numbe"], f["properties"]["community"], f["geometry"])
                    for f in boundaries.community_area_features()]
    else:
        features = [(f["properties"]["zip"], f["properties"]["zip"], f["geometry"])
                    for f in boundaries.zip_code_features()]
    return maps.areas_from_geojson(features)


@pytest.fixture(scope="module")
def manifest(dbt_manifest):
    import json

    return json.loads(Path(dbt_manifest).read_text())


def test_every_report_page_shows_its_chart_and_table(manifest, tmp_path):
    models = report_models_in(manifest)
    assert len(models) >= 25
    rng = random.Random(7)
    for model in models:
        node = manifest["nodes"][model.unique_id]
        columns = {name: column.get("data_type") or "text" for name, column in node["columns"].items()}
        if model.name == "rpt_countries__profile":  # no contract: its columns follow the data
            columns = {**{k: "text" for k in ("country_code", "country_name")},
                       "population": "double precision"}
        names = list(columns)
        rows = [tuple(value_for(columns[n], i, rng) for n in names) for i in range(120)]
        assert model.portal.get("chart"), f"{model.name} declares no chart (meta.portal.chart)"
        svgs = portal.chart_svgs(model.portal["chart"], names, rows, model.title, areas=synthetic_areas)
        page = tmp_path / f"{model.name}.html"
        page.write_text(portal.render_report_page(
            name=model.name, title=model.title, description=model.description,
            unique_id=model.unique_id, names=names, types=list(columns.values()), rows=rows,
            files={"csv": f"{model.name}.csv"}, refreshed_at="2026-12-05T06:00:00+00:00",
            svgs=svgs))
        dom, errors = open_in_browser(page)
        assert not errors, (model.name, errors)
        assert re.search(r'<svg class="chart".*?class="mark"', dom, re.S), model.name
        if model.draws_maps:  # every area of the layer drawn
            assert len(re.findall(r'<path class="mark"', dom)) in (77, 59, 77 + 59), model.name
        assert len(re.findall(r"<tr><td", dom)) == 50, model.name  # the first page of rows
        assert "rows 1-50 of 120" in dom, model.name
        assert model.title in dom and not model.title.startswith("rpt_")


def test_an_exported_report_page_in_the_browser(warehouse_db, tmp_path):
    from pulse import roles
    from pulse.reports import ReportModel

    analyst = roles.role("analyst").name(warehouse_db.database)
    query(warehouse_db, f"""
        drop table if exists marts.rpt_test__portal;
        create table marts.rpt_test__portal (day date, area text, crimes bigint);
        insert into marts.rpt_test__portal
        select date '2026-03-01' + (i % 30), 'area ' || (i % 3), i from generate_series(1, 90) i;
        insert into marts.rpt_test__portal values (date '2026-04-01', '<script>alert(1)</script>', 1);
        grant select on marts.rpt_test__portal to {analyst};
    """)
    model = ReportModel(name="rpt_test__portal", unique_id="model.pulse.rpt_test__portal",
                        schema="marts", table="rpt_test__portal",
                        description="Crimes per day and area (grain: day, area).",
                        column_descriptions={},
                        portal={"chart": {"type": "line", "x": "day", "y": "crimes",
                                          "series": "area"}})
    report = export_report("marts", "rpt_test__portal", tmp_path, model=model)
    write_index(tmp_path)
    page = (tmp_path / report.files[PAGE])
    assert oct(page.resolve().stat().st_mode & 0o777) == "0o644"
    dom, errors = open_in_browser(page)
    assert not errors and dom.count("<polyline") == 3 and dom.count("<circle") == 1  # one day
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script>alert(1)" not in dom
    assert "Crimes per day and area" in dom and 'href="rpt_test__portal.csv"' in dom
    index, errors = open_in_browser(tmp_path / "index.html")
    assert not errors and 'href="rpt_test__portal.html"' in index


def test_a_chart_naming_a_column_the_report_lacks_says_so():
    with pytest.raises(ValueError, match="columns the report does not have: nosuch"):
        portal.chart_svgs({"type": "line", "x": "day", "y": ["nosuch"]}, ["day", "n"], [], "t")
    with pytest.raises(ValueError, match="type 'pie'"):
        portal.chart_svgs({"type": "pie", "x": "day", "y": "n"}, ["day", "n"], [], "t")


def test_charts_are_svg_with_marks_and_nice_ticks():
    line = charts.line_chart("t", ["a", "b", "c"], {"one": [1, None, 3], "two": [None, 2, None]})
    assert line.count("<polyline") == 1 and line.count("<circle") == 1  # "one" across its gap
    assert charts.nice_ticks(0, 937) == [0, 200, 400, 600, 800, 1000]
    assert charts.number_text(16644857000000.0) == "16.6T" and charts.number_text(0.25) == "0.25"
    bars = charts.bar_chart("t", ["x", "y"], [3.0, -1.0])
    assert bars.count('class="mark"') == 2
    assert "No rows" in charts.histogram("t", [])
