"""The World Bank source against the local Indicators API: full, unchanged, revised and
failed loads into a real Postgres, compared with the universe's ground truth."""

from __future__ import annotations

import shutil

import pytest

from pipelines.worldbank import WorldBankError, load_worldbank, worldbank_pipeline, worldbank_source
from pipelines.worldbank.settings import (
    INDICATORS_FILE,
    INDICATORS_FILE_ENV,
    IndicatorConfigError,
    load_indicators,
)
from sample_api.countries import CountryApi, CountryUniverse
from tests.conftest import query

DECLARED = list(load_indicators(INDICATORS_FILE))


@pytest.fixture
def universe() -> CountryUniverse:
    return CountryUniverse(seed=2026, countries=20, first_year=2000, last_year=2025)


@pytest.fixture
def pipelines_dir(warehouse_db, tmp_path, monkeypatch):
    """A clean raw_worldbank, no local dlt state, and the committed indicators.yml."""
    monkeypatch.delenv(INDICATORS_FILE_ENV, raising=False)
    query(warehouse_db, "drop schema if exists raw_worldbank cascade")
    return tmp_path / "dlt"


def load(api: CountryApi, pipelines_dir, **source_args):
    source_args.setdefault("backoff_factor", 0)
    return load_worldbank(pipelines_dir=pipelines_dir, base_url=api.worldbank_url, **source_args)


def data_requests(api: CountryApi) -> list:
    """Requests for indicator values other than the per_page=1 probes."""
    return [r for r in api.requests if "/indicator" in r.path and str(r.params.get("per_page")) != "1"]


def fetched_indicators(api: CountryApi) -> set[str]:
    return {r.path.rstrip("/").rsplit("/", 1)[1] for r in data_requests(api)}


def raw_values(conn, indicator_id: str) -> dict[tuple[str, int], float | None]:
    rows = query(conn, "select country_id, year, value from raw_worldbank.indicator_values "
                       "where indicator_id = %s", (indicator_id,))
    return {(country, year): value for country, year, value in rows}


def truth_values(universe: CountryUniverse, indicator_id: str) -> dict[tuple[str, int], float | None]:
    return {(row["country"]["id"], int(row["date"])): row["value"]
            for row in universe.worldbank_rows(indicator_id)}


def saved_stamps(pipelines_dir) -> dict[str, str]:
    """indicator_values' resource state as the pipeline saved it (read back from disk)."""
    state = worldbank_pipeline(pipelines_dir).state
    resources = state.get("sources", {}).get("worldbank", {}).get("resources", {})
    return dict(resources.get("indicator_values", {}).get("last_updated", {}))


def indicators_copy(tmp_path, monkeypatch, *lines: str):
    path = tmp_path / "indicators.yml"
    shutil.copy(INDICATORS_FILE, path)
    with path.open("a") as out:
        out.writelines(line + "\n" for line in lines)
    monkeypatch.setenv(INDICATORS_FILE_ENV, str(path))
    return path


def test_full_load_matches_the_universe_then_an_unchanged_run_only_probes(
        api, universe, pipelines_dir, warehouse_db):
    load(api, pipelines_dir)
    for indicator_id in DECLARED:
        assert raw_values(warehouse_db, indicator_id) == truth_values(universe, indicator_id), indicator_id
    assert saved_stamps(pipelines_dir) == {i: universe.last_updated(i).isoformat() for i in DECLARED}

    countries = query(warehouse_db, "select id, iso2_code, is_aggregate, longitude "
                                    "from raw_worldbank.countries")
    assert {c[0] for c in countries} == {c.iso3 for c in universe.countries}
    by_id = {c.iso3: c for c in universe.countries}
    assert all(agg == by_id[cid].is_aggregate for cid, _, agg, _ in countries)
    assert all(lon is None for cid, _, agg, lon in countries if agg)  # "" -> null
    indicators = query(warehouse_db, "select id, name, unit, title, last_updated "
                                     "from raw_worldbank.indicators order by id")
    declared = load_indicators()
    assert [(i, n, u) for i, n, u, _, _ in indicators] == sorted(
        (d.id, d.name, d.unit) for d in declared.values())
    assert all(title and stamp == universe.last_updated(i) for i, _, _, title, stamp in indicators)
    types = dict(query(warehouse_db, "select column_name, data_type from information_schema.columns "
                                     "where table_schema = 'raw_worldbank' "
                                     "and table_name = 'indicator_values'"))
    assert (types["year"], types["value"], types["decimal"], types["last_updated"]) == (
        "bigint", "double precision", "bigint", "date")

    loads_before = query(warehouse_db, "select count(*) from raw_worldbank._dlt_loads")
    api.requests.clear()
    load(api, pipelines_dir)
    # one country list, one per_page=1 probe per indicator, nothing else
    assert len(api.requests) == 1 + len(DECLARED)
    assert data_requests(api) == []
    for table in ("countries", "indicators", "indicator_values"):
        newest = query(warehouse_db, f"select count(*) from raw_worldbank.{table} where _dlt_load_id "
                                     "not in (select min(load_id) from raw_worldbank._dlt_loads)")
        assert newest == [(0,)], f"{table}: an unchanged run loaded rows"
    assert query(warehouse_db, "select count(*) from raw_worldbank._dlt_loads") == loads_before


def test_a_revision_refetches_only_the_indicators_it_touched(api, universe, pipelines_dir, warehouse_db):
    load(api, pipelines_dir)
    before = {i: universe.last_updated(i) for i in DECLARED}
    universe.revise(share=0.05, seed=1)
    touched = {i for i in DECLARED if universe.last_updated(i) != before[i]}
    assert touched and touched != set(DECLARED), "the revision should touch some indicators"

    api.requests.clear()
    load(api, pipelines_dir)
    assert fetched_indicators(api) == touched
    for indicator_id in DECLARED:
        assert raw_values(warehouse_db, indicator_id) == truth_values(universe, indicator_id), indicator_id
    stamps = dict(query(warehouse_db, "select id, last_updated from raw_worldbank.indicators"))
    assert stamps == {i: universe.last_updated(i) for i in DECLARED}


def test_an_indicator_added_to_the_file_loads_without_code_change(
        api, universe, pipelines_dir, warehouse_db, tmp_path, monkeypatch):
    load(api, pipelines_dir)
    extra = next(i for i in universe.indicator_ids if i not in DECLARED)
    indicators_copy(tmp_path, monkeypatch, f"- {{id: {extra}, name: extra_indicator, unit: percent}}")

    api.requests.clear()
    load(api, pipelines_dir)
    assert fetched_indicators(api) == {extra}  # the others are unchanged
    assert raw_values(warehouse_db, extra) == truth_values(universe, extra)
    assert query(warehouse_db, "select name, unit from raw_worldbank.indicators where id = %s",
                 (extra,)) == [("extra_indicator", "percent")]


def test_an_unknown_indicator_id_is_a_clear_error_and_moves_no_state(
        api, universe, pipelines_dir, warehouse_db, tmp_path, monkeypatch):
    load(api, pipelines_dir)
    stamps = saved_stamps(pipelines_dir)
    universe.revise(share=0.05, seed=2)
    path = indicators_copy(tmp_path, monkeypatch, "- {id: XX.NOT.AN.INDICATOR, name: typo, unit: x}")

    with pytest.raises(WorldBankError) as caught:
        load(api, pipelines_dir)
    message = str(caught.value)
    assert caught.value.retriable is False
    assert "indicator XX.NOT.AN.INDICATOR" in message and "indicators.yml" in message
    assert "/country/all/indicator/XX.NOT.AN.INDICATOR" in message  # the URL
    assert saved_stamps(pipelines_dir) == stamps  # not even the revised indicators moved

    # The typo fixed: the revision the failed run saw is loaded now.
    path.write_text(INDICATORS_FILE.read_text())
    load(api, pipelines_dir)
    for indicator_id in DECLARED:
        assert raw_values(warehouse_db, indicator_id) == truth_values(universe, indicator_id), indicator_id


def test_a_page_failing_mid_indicator_leaves_its_state_for_the_next_run(
        api, universe, pipelines_dir, warehouse_db):
    indicator_id = DECLARED[0]
    # the country list (2 pages of 50), the probe, then 3 of the indicator's ~30 pages succeed
    api.faults.fail_after_requests = 6
    with pytest.raises(WorldBankError) as caught:
        load(api, pipelines_dir, indicators=[indicator_id], per_page=50, max_attempts=2)
    assert caught.value.retriable is True
    assert f"indicator {indicator_id}" in str(caught.value) and "HTTP 503" in str(caught.value)
    pages = data_requests(api)
    assert [r.status for r in pages][:3] == [200] * 3 and pages[-1].status == 503  # mid-indicator
    assert saved_stamps(pipelines_dir) == {}
    # nothing of the failed run was loaded: the whole run is one load package
    assert query(warehouse_db, "select to_regclass('raw_worldbank.indicator_values')") == [(None,)]

    api.faults.fail_after_requests = None
    api.requests.clear()
    load(api, pipelines_dir, indicators=[indicator_id], per_page=50)
    assert fetched_indicators(api) == {indicator_id}  # refetched: its state never moved
    assert raw_values(warehouse_db, indicator_id) == truth_values(universe, indicator_id)
    assert saved_stamps(pipelines_dir) == {indicator_id: universe.last_updated(indicator_id).isoformat()}


def test_transient_faults_are_retried_and_the_load_is_complete(api, universe, pipelines_dir, warehouse_db):
    """429s, 5xx, resets, HTML maintenance pages, cut bodies and empty pages: all retried."""
    kinds = ("rate_limit", "server_error", "reset", "html_200", "malformed", "empty_page")
    api.faults.retry_after = 0
    api.faults.kinds = kinds
    api.faults.seed = 5
    api.faults.rate = 0.2
    load(api, pipelines_dir, per_page=200, max_attempts=8)
    assert sum(api.faults.injected.values()) >= 10 and set(api.faults.injected) >= {"html_200", "empty_page"}
    for indicator_id in DECLARED:
        assert raw_values(warehouse_db, indicator_id) == truth_values(universe, indicator_id), indicator_id


def test_http_400_request_error_is_clear_and_not_retried(api, pipelines_dir, warehouse_db):
    api.faults.bad_request_next = 1  # the first request (the country list) gets the HTML 400 page
    with pytest.raises(WorldBankError) as caught:
        load(api, pipelines_dir, max_attempts=5)
    message = str(caught.value)
    assert caught.value.retriable is False
    assert "the country list: GET http://127.0.0.1" in message and "/v2/country?" in message
    assert "HTTP 400 (title 'Request Error')" in message
    assert [r.status for r in api.requests] == [400]  # asked once: asking again cannot help


def test_a_changed_country_list_replaces_the_table(pipelines_dir, warehouse_db):
    small, large = (CountryUniverse(seed=2026, countries=n, first_year=2000) for n in (20, 25))
    for universe in (small, large):
        with CountryApi(universe) as server:
            load(server, pipelines_dir, indicators=DECLARED[:1])
        ids = {row[0] for row in query(warehouse_db, "select id from raw_worldbank.countries")}
        assert ids == {c.iso3 for c in universe.countries}


def test_unknown_indicator_argument_names_the_file(pipelines_dir):
    with pytest.raises(ValueError, match=r"NOPE.*indicators\.yml"):
        worldbank_source(indicators=["NOPE"])


@pytest.mark.parametrize(("line", "complaint"), [
    ("- {id: SP.POP.TOTL, name: population_again, unit: persons}", "declared twice"),
    ("- {id: SP.URB.TOTL, name: population, unit: persons}", "already used by SP.POP.TOTL"),
    ("- {id: SP.URB.TOTL, name: UrbanPop, unit: persons}", "snake_case"),
    ("- {id: SP.URB.TOTL, name: urban}", "`unit` is required"),
    ("- {id: SP/URB, name: urban, unit: x}", "not a World Bank indicator code"),
])
def test_invalid_indicator_files_name_the_file_and_entry(tmp_path, monkeypatch, line, complaint):
    path = indicators_copy(tmp_path, monkeypatch, line)
    with pytest.raises(IndicatorConfigError) as caught:
        load_indicators()
    assert str(path) in str(caught.value) and complaint in str(caught.value)
    assert f"entry {len(DECLARED) + 1}" in str(caught.value)
