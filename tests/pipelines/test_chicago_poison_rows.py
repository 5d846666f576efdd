"""Every value that can break a load is set aside per row, with a reason (issue #13, item 4).

A row without `:updated_at`, one json value nested 300 levels deep, a lone UTF-16
surrogate or a new key that dlt cannot turn into a column of its own failed every run
of its dataset for good. Each such row now goes to
`crimes_rejects` with the reason and the row as sent; the rest of its page loads, and
later runs are not blocked. A json integer beyond 64 bits (orjson's limit) is loaded
exactly instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sample_api import CrimesDataset, SampleApi
from tests.conftest import query
from tests.pipelines.helpers import load, raw_rows, truth_rows

ROWS = 2_000
PAGE = 500


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"inner": value}
    return value


def _set(**values: Any) -> Callable[[dict], dict]:
    return lambda row: {**row, **values}


# kind -> (patch of the served row, the reject reason's start)
POISON: dict[str, tuple[Callable[[dict], dict], str]] = {
    "json nested 300 levels": (_set(location=nested(300)), "location: nested more than"),
    "lone surrogate in text": (_set(block="N STATE ST \ud800"),
                               "block: not valid Unicode (a lone surrogate"),
    "lone surrogate in json": (_set(location={"human_address": "\udc00"}),
                               "location: not valid Unicode (a lone surrogate"),
    "lone surrogate in a new column": (_set(new_column="x\ud83d"),
                                       "new_column: not valid Unicode (a lone surrogate"),
    "lone surrogate in a column name": (_set(**{"bad\ud800name": "x"}),
                                        "a column name that is not valid Unicode"),
    # dlt would fail the whole load on a column name that is blank or collides
    "a blank column name": (_set(**{" ": "x"}), "a column name that is blank"),
    "a new column named like a declared one": (_set(Block="x"),
                                               "a column name 'Block' that becomes 'block'"),
    "a new column named like a system one": (_set(socrata_updated_at="2099-01-01T00:00:00Z"),
                                             "a column name 'socrata_updated_at' that becomes"),
}
NO_STAMP = "missing :updated_at"


def page_order(dataset: CrimesDataset) -> list[str]:
    """Row keys in the order the portal pages them: (:updated_at, :id)."""
    rows = sorted(dataset.truth(), key=lambda r: (r[":updated_at"], r[":id"]))
    return [row["id"] for row in rows]


def test_values_that_cannot_be_loaded_go_to_rejects_and_the_rest_loads(fresh_raw, warehouse_db):
    dataset = CrimesDataset(ROWS, seed=41)
    order = page_order(dataset)
    planted: dict[str, str] = {}
    # a row without its stamp in the middle of a page, and one closing a full page
    # (keyset paging continues after the last row that has one)
    for key in (order[100], order[PAGE - 1]):
        dataset.omit_system(key, ":updated_at")
        planted[key] = NO_STAMP
    for i, (patch, reason) in enumerate(POISON.values()):
        key = order[700 + 37 * i]
        dataset.patch(key, patch)
        planted[key] = reason
    big = order[1500]  # loadable, though orjson cannot write it
    dataset.patch(big, _set(location={"latitude": 2**70, "longitude": -(2**80)}))

    with SampleApi(dataset) as api:
        load(api, fresh_raw, warehouse_db, page_size=PAGE)
        expected = {k: v for k, v in truth_rows(dataset).items() if k not in planted}
        assert raw_rows(warehouse_db) == expected

        rejects = query(warehouse_db, "select id, reject_reason, record from raw_chicago.crimes_rejects")
        reasons = {key: reason for key, reason, _ in rejects}
        assert reasons.keys() == planted.keys()
        for key, start in planted.items():
            assert reasons[key].startswith(start), (key, reasons[key])
        assert all(record and f'"id":"{key}"' in record for key, _, record in rejects)
        assert query(warehouse_db, "select location::text from raw_chicago.crimes where id = %s",
                     (big,)) == [(f'{{"latitude": {2**70}, "longitude": {-(2**80)}}}',)]

        # not a poison pill: the next run loads a revision as usual
        revision = dataset.apply_revision(new_rows=20, updated_rows=20)
        load(api, fresh_raw, warehouse_db, page_size=PAGE)
    expected = {k: v for k, v in truth_rows(dataset).items() if k not in planted}
    assert raw_rows(warehouse_db) == expected
    assert set(revision.new_ids) <= raw_rows(warehouse_db).keys()
