"""Bad rows for data-quality tests: patched and duplicated rows, as served and in truth()."""

from __future__ import annotations

import pytest
import requests

from sample_api import (
    HOSTILE_STRINGS,
    NULL_BYTE_STRINGS,
    CrimesDataset,
    SampleApi,
    hostile_patch,
)

SINCE = ":updated_at > '2000-01-01T00:00:00'"


def get(api: SampleApi, **params) -> list[dict]:
    resp = requests.get(api.resource_url, params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def keyset_all(api: SampleApi, limit: int) -> list[dict]:
    """Page as pipelines/chicago/paging.py does: after the last (:updated_at, :id) seen."""
    rows: list[dict] = []
    where = SINCE
    while True:
        page = get(api, **{"$select": ":*,*", "$where": where, "$order": ":updated_at,:id",
                           "$limit": limit})
        rows += page
        if len(page) < limit:
            return rows
        stamp, sid = page[-1][":updated_at"], page[-1][":id"]
        where = f"{SINCE} and (:updated_at > '{stamp}' or (:updated_at = '{stamp}' and :id > '{sid}'))"


def by_id(ds: CrimesDataset, row_id: str) -> dict:
    """The truth row of `row_id`, found by `:id` (a patch may have dropped "id")."""
    return next(r for r in ds.truth() if r[":id"] == ds.sid(int(row_id)))


def wreck(row: dict) -> dict:
    del row["id"]
    return {**row, "block": "quote ' \" and \\", "description": "nul\x00byte", "beat": 1234,
            "case_number": None, "iucr": "x" * 100_000, "new_column": {"nested": [1, 2.5]}}


def test_patch_is_served_and_is_the_truth():
    ds = CrimesDataset(400, seed=4)
    target = list(ds.truth())[123]["id"]
    ds.patch(target, wreck)
    truth = by_id(ds, target)
    assert "id" not in truth and truth["beat"] == 1234 and truth["description"] == "nul\x00byte"
    assert list(truth)[-1] == "new_column" and truth["case_number"] is None
    with SampleApi(ds) as api:
        # id filters use the stored id, so a row that lost its "id" can still be found
        [served] = get(api, **{"$select": ":*,*", "$where": f"id = '{target}'"})
        assert served == truth
        [star] = get(api, **{"$where": f"id = '{target}'"})
        assert star == {k: v for k, v in truth.items() if not k.startswith(":")}
        assert get(api, **{"$select": "id,beat", "$where": f"id = '{target}'"}) == [{"beat": 1234}]
        # comparisons on cells of the wrong type are false, not a crash: only the
        # rows whose beat is the text "1234" count, never the patched number
        genuine = sum(r.get("beat") == "1234" for r in ds.truth())
        assert get(api, **{"$select": "count(*)", "$where": "beat = '1234'"}) == [{"count": str(genuine)}]
        rows = keyset_all(api, limit=50)
        assert rows == sorted(ds.truth(), key=lambda r: (r[":updated_at"], r[":id"]))


def test_patches_stack_and_survive_revisions():
    ds = CrimesDataset(300, seed=6)
    target = list(ds.truth())[10]["id"]
    ds.patch(target, lambda row: {**row, "description": row["description"].lower()})
    ds.patch(target, lambda row: {**row, "description": row["description"] + "!"})
    before = by_id(ds, target)
    ds.apply_revision(new_rows=0, updated_rows=300)  # every row gets a new version
    after = by_id(ds, target)
    assert after[":updated_at"] > before[":updated_at"] and after["updated_on"] > before["updated_on"]
    # the patches run on the revised row
    assert after["description"].endswith("!") and after["description"] == after["description"].lower()
    with SampleApi(ds) as api:
        [served] = get(api, **{"$select": ":*,*", "$where": f"id = '{target}'"})
        assert served == after


def test_hostile_patch_round_trips_byte_for_byte():
    assert "'; DROP TABLE raw_chicago.crimes; --" in HOSTILE_STRINGS
    assert max(map(len, HOSTILE_STRINGS)) == 100_000
    assert all("\x00" in s for s in NULL_BYTE_STRINGS)
    assert not any("\x00" in s for s in HOSTILE_STRINGS)
    ds = CrimesDataset(200, seed=8)
    plain = list(ds.truth())
    ids = [r["id"] for r in plain[: len(HOSTILE_STRINGS)]]
    for i, row_id in enumerate(ids):
        ds.patch(row_id, hostile_patch(i))
    truth = {r[":id"]: r for r in ds.truth()}
    kept = {"id", "arrest", "domestic", "location", "date", "updated_on"}
    for i, old in enumerate(plain[: len(HOSTILE_STRINGS)]):
        new = truth[old[":id"]]
        assert {k: new[k] for k in kept & old.keys()} == {k: old[k] for k in kept & old.keys()}
        changed = {k for k in old if k not in kept and not k.startswith(":")}
        assert {"case_number", "block", "primary_type", "description", "year"} <= changed
        assert {new[k] for k in changed} == {HOSTILE_STRINGS[i]}
    with SampleApi(ds) as api:
        assert keyset_all(api, limit=37) == sorted(truth.values(),
                                                   key=lambda r: (r[":updated_at"], r[":id"]))


def test_duplicate_is_served_twice_and_paging_still_works():
    ds = CrimesDataset(500, seed=9)
    ordered = sorted(ds.truth(), key=lambda r: (r[":updated_at"], r[":id"]))
    at_edge, mid_page = ordered[99]["id"], ordered[250]["id"]  # last row of page 1; mid page 3
    ds.duplicate(at_edge)
    ds.duplicate(mid_page)
    ds.patch(mid_page, lambda row: {k: v for k, v in row.items() if k != "id"})  # and no "id"
    assert [r[":id"] for r in ds.truth()] == sorted(r[":id"] for r in ordered)  # once in truth
    with SampleApi(ds) as api:
        first = get(api, **{"$select": ":*,*", "$where": SINCE, "$order": ":updated_at,:id",
                            "$limit": 100})
        assert len(first) == 101 and first[-1] == first[-2] and first[-1]["id"] == at_edge
        assert get(api, **{"$select": "count(*)"}) == [{"count": "500"}]
        rows = keyset_all(api, limit=100)
        sids = [r[":id"] for r in rows]
        assert len(sids) == 502 and set(sids) == {r[":id"] for r in ordered}
        twice = {sid for sid in sids if sids.count(sid) == 2}
        assert twice == {ds.sid(int(at_edge)), ds.sid(int(mid_page))}
        for sid in twice:  # back to back, identical
            i = sids.index(sid)
            assert rows[i] == rows[i + 1]


def test_bad_row_ids_and_patches_fail_clearly():
    ds = CrimesDataset(10)
    with pytest.raises(KeyError, match="no row with id 42"):
        ds.patch(42, dict)
    with pytest.raises(KeyError):
        ds.duplicate("42")
    ds.patch(next(ds.truth())["id"], lambda row: row.clear())
    with pytest.raises(TypeError, match="returned NoneType"):
        list(ds.truth())
