"""Fault injection: countdown knobs, seeded random faults and their counters, over real HTTP."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from sample_api import FAULT_KINDS, CrimesDataset, Faults, SampleApi
from sample_api.__main__ import main


@pytest.fixture
def api():
    with SampleApi(CrimesDataset(300, seed=5), faults=Faults(slow_seconds=0.05)) as server:
        yield server


def get(api: SampleApi, **params) -> requests.Response:
    return requests.get(api.resource_url, params={"$limit": 5, **params}, timeout=5)


def outcome(api: SampleApi) -> str:
    """What one request got: a fault kind, or "ok"."""
    try:
        get(api)
    except requests.ConnectionError:
        pass
    return api.requests[-1].fault or "ok"


def test_reset_drops_the_connection(api):
    api.faults.reset_next = 1
    with pytest.raises(requests.exceptions.ConnectionError, match="reset by peer"):
        get(api)
    assert get(api).status_code == 200  # the client reconnects
    first = api.requests[0]
    assert (first.status, first.fault) == (0, "reset")
    assert api.faults.injected == Counter(reset=1)


def test_html_200_is_a_maintenance_page(api):
    api.faults.html_200_next = 1
    page = get(api)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.text.startswith("<!DOCTYPE html>") and "maintenance" in page.text
    with pytest.raises(ValueError):
        page.json()
    assert len(get(api).json()) == 5
    assert api.requests[0].fault == "html_200"


def test_empty_page_whatever_was_asked(api):
    api.faults.empty_page_next = 2
    assert get(api, **{"$offset": 10}).json() == []
    assert get(api, **{"$select": "count(*)"}).json() == []
    assert len(get(api).json()) == 5
    assert [r.fault for r in api.requests] == ["empty_page", "empty_page", None]
    assert [r.rows for r in api.requests] == [0, 0, 5]


def test_every_countdown_is_recorded_and_counted(api):
    faults = api.faults
    for kind in ("rate_limit", "server_error", "reset", "html_200", "bad_request", "empty_page",
                 "slow", "malformed"):
        setattr(faults, f"{kind}_next", 1)
    # One fault per request, in the documented order.
    assert [outcome(api) for _ in range(9)] == ["rate_limit", "server_error", "reset", "html_200",
                                                "bad_request", "empty_page", "slow", "malformed",
                                                "ok"]
    assert set(faults.injected.values()) == {1} and len(faults.injected) == 8
    faults.rate_limit_next, faults.reset_next, faults.rate = 3, 2, 0.5
    faults.reset()
    assert (faults.rate_limit_next, faults.reset_next, faults.rate) == (0, 0, 0.0)
    assert not faults.injected and outcome(api) == "ok"


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_random_faults_at_rate_one_always_fire(kind):
    faults = Faults(rate=1.0, kinds=(kind,), seed=7, slow_seconds=0.05)
    with SampleApi(CrimesDataset(100), faults=faults) as api:
        assert [outcome(api) for _ in range(6)] == [kind] * 6
        assert faults.injected == Counter({kind: 6})
        if kind == "server_error":  # the status is drawn too
            assert {r.status for r in api.requests} <= {500, 502, 503}


def test_random_server_errors_use_every_status():
    faults = Faults(rate=1.0, kinds=("server_error",), seed=1)
    with SampleApi(CrimesDataset(50), faults=faults) as api:
        assert {get(api).status_code for _ in range(30)} == {500, 502, 503}


def test_same_seed_same_faults():
    def run(seed: int) -> list[str]:
        faults = Faults(rate=0.5, seed=seed, slow_seconds=0.01)
        with SampleApi(CrimesDataset(100), faults=faults) as api:
            seq = [outcome(api) for _ in range(80)]
        assert sum(faults.injected.values()) == sum(kind != "ok" for kind in seq)
        return seq

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    assert set(first) == {"ok", *FAULT_KINDS}  # uniform over all seven kinds
    assert 25 < first.count("ok") < 55


def test_max_random_caps_and_countdowns_come_first():
    faults = Faults(rate=1.0, kinds=("html_200",), max_random=3)
    with SampleApi(CrimesDataset(50), faults=faults) as api:
        faults.rate_limit_next = 1  # an armed countdown beats random noise
        assert [outcome(api) for _ in range(6)] == ["rate_limit", *["html_200"] * 3, "ok", "ok"]
        assert faults.injected == Counter(rate_limit=1, html_200=3)
        faults.reset()  # rewinds the cap and the seed
        faults.rate = 1.0
        assert [outcome(api) for _ in range(4)] == ["html_200"] * 3 + ["ok"]


def test_fault_settings_are_checked():
    with pytest.raises(ValueError, match="unknown"):
        Faults(kinds=("rate_limit", "meteor"))
    with pytest.raises(ValueError, match="rate"):
        Faults(rate=1.5)
    with pytest.raises(SystemExit):
        main(["--fault-kinds", "reset,nope"])
