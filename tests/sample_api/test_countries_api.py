"""The local World Bank and OECD APIs over real HTTP: paging, shapes against the recorded
responses, errors, key filters, updatedAfter after a revision, the hourly budget, faults."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime

import pytest
import requests

from sample_api import Faults
from sample_api.countries import CountryApi, CountryUniverse
from tests.conftest import REALDATA

WB_REAL = REALDATA / "worldbank"
OECD_REAL = REALDATA / "oecd"
POPULATION = "OECD.ELS.SAE,DSD_POPULATION@DF_POP_HIST,"
GDP = "OECD.CTP.TPS,DSD_REF_GLOBAL@DF_REFSERIES_GLOBAL,1.1"
LIFE = "OECD.ELS.HD,DSD_HEALTH_STAT@DF_LE,1.0"


def small(seed: int = 7) -> CountryUniverse:
    return CountryUniverse(seed=seed, countries=20, first_year=2000, last_year=2025)


@pytest.fixture(scope="module")
def api():
    with CountryApi(small(), faults=Faults(slow_seconds=0.05)) as server:
        yield server


@pytest.fixture
def fresh():
    """A server of its own, for tests that revise the universe or spend the budget."""
    with CountryApi(small(seed=11), faults=Faults(slow_seconds=0.05)) as server:
        yield server


def wb(api: CountryApi, path: str, **params) -> requests.Response:
    return requests.get(f"{api.worldbank_url}/{path}", params={"format": "json", **params}, timeout=10)


def sdmx(api: CountryApi, flowref: str, key: str = "", **params) -> requests.Response:
    params.setdefault("format", "csv")
    return requests.get(f"{api.oecd_url}/data/{flowref}/{key}",
                        params={"dimensionAtObservation": "AllDimensions", **params}, timeout=10)


def rows_of(response: requests.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


# -- World Bank -----------------------------------------------------------------------------

def test_country_list_pages_every_economy_once_with_per_page_a_string(api):
    seen, page, pages = [], 1, None
    while pages is None or page <= pages:
        meta, countries = wb(api, "country", per_page=15, page=page).json()
        assert set(meta) == {"page", "pages", "per_page", "total"}
        assert meta["per_page"] == "15" and meta["total"] == len(api.universe.countries)
        pages = meta["pages"]
        seen += [c["id"] for c in countries]
        page += 1
    assert sorted(seen) == seen == [c.iso3 for c in api.universe.countries]
    aggregate = next(c for c in wb(api, "countries", per_page=500).json()[1] if c["id"] == "WLD")
    assert aggregate["region"] == {"id": "NA", "iso2code": "NA", "value": "Aggregates"}
    assert aggregate["capitalCity"] == aggregate["longitude"] == ""


def test_indicator_pages_cover_every_row_once_and_the_page_past_the_end_is_null(api):
    expected = [(r["countryiso3code"], r["date"]) for r in api.universe.worldbank_rows("SP.POP.TOTL")]
    got, page = [], 1
    while True:
        meta, rows = wb(api, "country/all/indicator/SP.POP.TOTL", per_page=333, page=page).json()
        assert meta["total"] == len(expected)
        if rows is None:
            assert page == meta["pages"] + 1
            break
        got += [(r["countryiso3code"], r["date"]) for r in rows]
        page += 1
    assert got == expected and len(set(got)) == len(got)
    # Aggregates first, then countries by name; years descending within an economy.
    first = api.universe.worldbank_rows("SP.POP.TOTL")
    assert first[0]["date"] == "2025" and first[1]["date"] == "2024"
    aggregates = {c.iso3 for c in api.universe.countries if c.is_aggregate}
    flags = [r["countryiso3code"] in aggregates for r in first]
    assert flags == sorted(flags, reverse=True)


def _types(value):
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    return type(value).__name__


def test_indicator_page_has_the_recorded_shape(api):
    real_meta, real_rows = json.loads((WB_REAL / "TestIndicatorValuesService_List__0.json").read_text())
    meta, rows = wb(api, "countries/all/indicators/NY.GDP.MKTP.CD").json()
    assert _types(meta) == _types(real_meta)  # per_page a number here, a string in /country
    real_row = next(r for r in real_rows if r["value"] is not None)
    row = next(r for r in rows if r["value"] is not None)
    assert list(row) == list(real_row) and _types(row) == _types(real_row)
    assert meta["lastupdated"] == api.universe.last_updated("NY.GDP.MKTP.CD").isoformat()


def test_invalid_indicator_or_country_is_a_200_message_like_the_real_api(api):
    real = json.loads((WB_REAL / "TestIndicatorValuesService_List__3.json").read_text())
    for path in ("country/all/indicator/INVALID.INDICATOR.ID",
                 "countries/ABCDEFG;HIJKLM/indicators/SP.POP.TOTL"):
        response = wb(api, path)
        assert response.status_code == 200 and response.json() == real


@pytest.mark.parametrize("params", [{"format": "xml"}, {"source": "invalid_source_id"}, {"page": "x"}])
def test_unparseable_requests_get_the_html_request_error_page(api, params):
    response = wb(api, "country/all/indicator/SP.POP.TOTL", **params)
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")
    assert "<title>Request Error</title>" in response.text


def test_date_range_mrv_source_and_country_selection(api):
    meta, rows = wb(api, "country/all/indicator/SP.POP.TOTL", date="2018:2019", per_page=1000,
                    source="2").json()
    assert {r["date"] for r in rows} == {"2018", "2019"}
    assert meta["total"] == 2 * len(api.universe.countries)
    meta, rows = wb(api, "country/all/indicator/SP.DYN.LE00.IN", mrv=1, per_page=1000).json()
    assert meta["total"] == len(api.universe.countries) and len({r["date"] for r in rows}) == 1
    country = next(c for c in api.universe.countries if not c.is_aggregate)
    _, rows = wb(api, f"country/{country.iso2};WLD/indicator/SP.POP.TOTL", date="2020").json()
    assert [r["countryiso3code"] for r in rows] == ["WLD", country.iso3]


def test_values_are_plausible_and_consistent(api):
    u = api.universe
    def series(ind: str) -> dict[tuple[str, str], float]:
        return {(r["countryiso3code"], r["date"]): r["value"] for r in u.worldbank_rows(ind)
                if r["value"] is not None}
    pop, gdp, pcap = series("SP.POP.TOTL"), series("NY.GDP.MKTP.CD"), series("NY.GDP.PCAP.CD")
    imr, u5 = series("SP.DYN.IMRT.IN"), series("SH.DYN.MORT")
    rev, tax, le = series("GC.REV.XGRT.GD.ZS"), series("GC.TAX.TOTL.GD.ZS"), series("SP.DYN.LE00.IN")
    countries = {c.iso3 for c in u.countries if not c.is_aggregate}
    assert all(1e4 <= v <= 1.5e9 for (c, _), v in pop.items() if c in countries)
    assert all(40 <= v <= 85 for v in le.values())
    for key, value in pcap.items():
        assert value == pytest.approx(gdp[key] / pop[key], abs=0.006)
    assert all(imr[k] < u5[k] for k in imr.keys() & u5.keys())
    assert all(5 <= tax[k] < rev[k] <= 45 for k in tax.keys() & rev.keys())
    members = u.members["WLD"]
    complete = [y for y in map(str, u.years) if all((m, y) in pop for m in members)]
    assert complete
    assert pop[("WLD", complete[0])] == pytest.approx(sum(pop[(m, complete[0])] for m in members))
    assert any(r["value"] is None for r in u.worldbank_rows("NY.GDP.MKTP.CD"))  # gaps exist


# -- OECD ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("flowref", "real"), [
    (POPULATION, "DSD_POPULATION@DF_POP_HIST__population__sdmx-csv1.csv"),
    (GDP, "DSD_REF_GLOBAL@DF_REFSERIES_GLOBAL__gdp__sdmx-csv1.csv"),
])
def test_codes_only_csv_has_the_recorded_layout(api, flowref, real):
    recorded = (OECD_REAL / real).read_bytes().split(b"\r\n")
    response = sdmx(api, flowref, startPeriod="2010")
    assert response.status_code == 200
    lines = response.content.split(b"\r\n")
    assert lines[0] == recorded[0]  # DATAFLOW, dimensions, TIME_PERIOD, OBS_VALUE, attributes
    assert lines[1].split(b",")[0] == recorded[1].split(b",")[0]  # AGENCY:ID(VERSION)
    name = "population" if flowref == POPULATION else "gdp"
    served = [r for r in api.universe.oecd_rows(name) if int(r["TIME_PERIOD"]) >= 2010]
    assert rows_of(response) == served


def test_key_filter_with_dots_pluses_and_empties(api):
    areas = sorted(a for a in api.universe.oecd_areas if len(a) == 3)[:2]
    rows = rows_of(sdmx(api, POPULATION, f"{'+'.join(areas)}..PS._T._T.", startPeriod="2015",
                        endPeriod="2016"))
    assert {r["REF_AREA"] for r in rows} == set(areas)
    assert {(r["SEX"], r["AGE"]) for r in rows} == {("_T", "_T")}
    assert {r["TIME_PERIOD"] for r in rows} == {"2015", "2016"}
    assert rows_of(sdmx(api, GDP, "all")) == api.universe.oecd_rows("gdp")
    assert sdmx(api, GDP, "USA.B1GQ_V").status_code == 400  # two of four dimensions
    assert sdmx(api, GDP, "XXX.B1GQ_V..A").text == "NoResultsFound"


def test_unknown_dataflow_is_404_no_structure(api):
    response = sdmx(api, "OECD.ELS.SAE,DSD_NOPE@DF_NOPE,1.0")
    assert response.status_code == 404 and response.text.startswith("NoStructureFound")
    assert sdmx(api, "OECD.ELS.SAE,DSD_POPULATION@DF_POP_HIST,9.9").status_code == 404


def test_labelled_csv_has_label_columns_and_readable_names(api):
    response = sdmx(api, LIFE, format="csvfilewithlabels", startPeriod="2020", endPeriod="2020")
    header = response.text.split("\r\n", 1)[0].split(",")
    assert header[:6] == ["STRUCTURE", "STRUCTURE_ID", "STRUCTURE_NAME", "ACTION", "REF_AREA",
                          "Reference area"]
    assert header[-10:] == ["TIME_PERIOD", "Time period", "OBS_VALUE", "Observation value",
                            "OBS_STATUS", "Observation status", "UNIT_MULT", "Unit multiplier",
                            "DECIMALS", "Decimals"]
    rows = list(csv.reader(io.StringIO(response.text)))[1:]
    assert {r[3] for r in rows} == {"I"}
    by_code = {r[4]: r[5] for r in rows}
    assert by_code["OECD"] == "OECD" and any(name != code for code, name in by_code.items())


def test_oecd_values_agree_with_the_world_bank_within_three_percent(api):
    u = api.universe
    wb_pop = {(r["countryiso3code"], r["date"]): r["value"] for r in u.worldbank_rows("SP.POP.TOTL")}
    checked = 0
    for row in u.oecd_rows("population"):
        if row["SEX"] == "_T" and row["AGE"] == "_T" and row["OBS_VALUE"]:
            reference = wb_pop.get((row["REF_AREA"], row["TIME_PERIOD"]))
            if reference:
                value = float(row["OBS_VALUE"]) * 10 ** int(row["UNIT_MULT"])
                assert value == pytest.approx(reference, rel=0.03)
                checked += 1
    assert checked > 50


def test_updated_after_returns_exactly_the_revision_with_actions(fresh):
    u = fresh.universe
    def keyed(name: str) -> dict[tuple[str, ...], dict[str, str]]:
        dims = (*u.oecd_dataflows[name].dimensions, "TIME_PERIOD")
        return {tuple(r[d] for d in dims): r for r in u.oecd_rows(name)}

    before = {name: keyed(name) for name in u.oecd_dataflows}
    before_updated = {i: u.last_updated(i) for i in u.indicator_ids}
    instant = datetime.now(UTC)
    time.sleep(0.01)
    summary = u.revise(share=0.02, seed=3)
    assert 0 < len(summary.indicators) < len(u.indicator_ids)
    assert all(u.last_updated(i) > before_updated[i] for i in summary.indicators)
    assert all(u.last_updated(i) == before_updated[i] for i in set(u.indicator_ids) - set(summary.indicators))
    since = instant.isoformat().replace("+00:00", "Z")
    counts = {"I": 0, "R": 0, "D": 0}
    for name, flowref in (("population", POPULATION), ("life_expectancy", LIFE), ("gdp", GDP)):
        after = keyed(name)
        response = sdmx(fresh, flowref, format="csvfilewithlabels", updatedAfter=since)
        assert response.status_code == 200
        flow = u.oecd_dataflows[name]
        served = {}
        for r in csv.DictReader(io.StringIO(response.text)):
            key = (*(r[d] for d in flow.dimensions), r["TIME_PERIOD"])
            served[key] = (r["ACTION"], r["OBS_VALUE"])
        expected = {}
        for key in before[name].keys() - after.keys():
            expected[key] = ("D", "")
        for key in after.keys() - before[name].keys():
            expected[key] = ("I", after[key]["OBS_VALUE"])
        for key in after.keys() & before[name].keys():
            if after[key]["OBS_VALUE"] != before[name][key]["OBS_VALUE"]:
                expected[key] = ("R", after[key]["OBS_VALUE"])
        assert served == expected
        for action, _ in served.values():
            counts[action] += 1
    assert counts == {"I": summary.oecd_added, "R": summary.oecd_revised, "D": summary.oecd_deleted}
    assert min(counts.values()) > 0
    # An offset instead of Z, and nothing changed since the revision: 404 NoResultsFound.
    later = summary.at.isoformat()
    response = sdmx(fresh, GDP, format="csvfilewithlabels", updatedAfter=later)
    assert (response.status_code, response.text) == (404, "NoResultsFound")


def test_hourly_budget_answers_429_with_retry_after(fresh):
    fresh.oecd_requests_per_hour = 3
    statuses = [sdmx(fresh, GDP, "USA+FRA.B1GQ_V.USD.A").status_code for _ in range(4)]
    assert statuses[3] == 429 and 429 not in statuses[:3]
    refused = sdmx(fresh, GDP)
    assert refused.status_code == 429 and 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert wb(fresh, "country").status_code == 200  # the World Bank has no such budget
    assert len(fresh.oecd_requests()) == 5 and len(fresh.worldbank_requests()) == 1
    fresh.oecd_requests_per_hour = 10
    assert sdmx(fresh, GDP).status_code == 200


def test_faults_answer_like_each_provider(api):
    faults = api.faults
    faults.empty_page_next = 2
    meta, rows = wb(api, "country/all/indicator/SP.POP.TOTL").json()
    assert rows == [] and meta["total"] > 0
    assert sdmx(api, GDP).text.count("\r\n") == 1  # the header only
    faults.rate_limit_next, faults.retry_after = 1, 2
    limited = wb(api, "country")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    faults.html_200_next = 1
    assert sdmx(api, GDP).headers["Content-Type"].startswith("text/html")
    faults.malformed_next = 1
    with pytest.raises(ValueError):
        wb(api, "country").json()
    faults.server_error_next = 1
    assert sdmx(api, GDP).status_code == 503
    faults.reset_next = 1
    with pytest.raises(requests.ConnectionError):
        wb(api, "country")
    assert [r.fault for r in api.requests[-7:]] == ["empty_page", "empty_page", "rate_limit",
                                                    "html_200", "malformed", "server_error", "reset"]


def test_same_seed_same_bytes():
    with CountryApi(small(seed=5)) as one, CountryApi(small(seed=5)) as two:
        for get in (lambda a: wb(a, "country/all/indicator/NY.GDP.MKTP.CD", per_page=500, page=2),
                    lambda a: wb(a, "country", per_page=100),
                    lambda a: sdmx(a, POPULATION, format="csvfilewithlabels")):
            assert get(one).content == get(two).content
    other = CountryUniverse(seed=6, countries=20, first_year=2000)
    assert other.worldbank_rows("SP.POP.TOTL") != small(seed=5).worldbank_rows("SP.POP.TOTL")
