"""Bad data from the API: every kind of malformed row, and hostile text, each with its
documented outcome (README "What Pulse guarantees"), in the crimes and in the 311
service requests; the other datasets are served clean beside them (dbt needs them all):

| input                                   | outcome                                         |
|-----------------------------------------|-------------------------------------------------|
| no key (`id`, `sr_number`)              | rejected at ingest (raw_chicago.<table>_rejects) |
| null byte in a text field               | rejected at ingest                               |
| `arrest`/`duplicate: "maybe"` (a type that flipped) | rejected at ingest                   |
| `"true"` for a boolean, `ward: 12` (flipped) | coerced losslessly, loaded                  |
| crimes: `id` not a number               | in raw, rejected at staging (not counted)        |
| an unparsable event date (`date`, `created_date`) | in raw, rejected at staging            |
| crimes: an impossible `date`            | in raw, rejected at staging                      |
| non-numeric coordinates                 | loaded, NULL in staging, warn test `castable`    |
| crimes: coordinates outside Chicago     | loaded, warn test `within_range`                 |
| crimes: a date in the future            | loaded, warn test `within_range`                 |
| the same key twice in one page          | merged to one row (newest wins)                  |
| a new column                            | loaded as a new text column of raw               |
| quotes, SQL, templates, 100 KB text     | loaded verbatim                                  |

Both rejects are listed for analysts in marts.rpt_chicago__rejected_rows, by dataset.
Nothing is lost: every served row is in raw or in the rejects, and the marts count
exactly the rows that can be counted (every dataset's records by community area; the
crimes marts also against pandas).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from psycopg2 import sql

from reliability import verify
from reliability.outcome import Outcome, Trial
from reliability.portal import ROW_TABLES, Portal
from reliability.scenarios import Context, scenario
from reliability.workspace import Workspace, dbt_failure, workspace
from sample_api import SampleApi
from sample_api.hostile import HOSTILE_STRINGS, NULL_BYTE_STRINGS, hostile_patch

Patch = Callable[[dict[str, Any]], dict[str, Any]]
Kinds = dict[str, tuple[Patch | None, str, str]]


def _set(**values: Any) -> Patch:
    return lambda row: {**row, **values}


def _drop(key: str) -> Patch:
    return lambda row: {k: v for k, v in row.items() if k != key}


def _hostile(columns: tuple[str, ...]) -> Callable[[int], Patch]:
    """hostile_patch for a dataset whose text columns are `columns` (its keys, booleans,
    timestamps and coordinates stay as they are)."""
    def patch(i: int) -> Patch:
        return _set(**dict.fromkeys(columns, HOSTILE_STRINGS[i % len(HOSTILE_STRINGS)]))
    return patch


# per dataset: kind -> (patch, path, the reject reason's start, or the warn test that flags it)
KINDS: dict[str, Kinds] = {
    "crimes": {
        "no id": (_drop("id"), "ingest", "missing id"),
        "null byte": (_set(block=NULL_BYTE_STRINGS[1]), "ingest", "block: contains a null byte"),
        "type flip, lossy": (_set(arrest="maybe"), "ingest", "arrest: 'maybe' is not a bool"),
        "type flip, lossless": (_set(arrest="true", ward=12), "loaded", ""),
        "id not a number": (lambda row: {**row, "id": row["id"] + "a"}, "staging", "id '"),
        "unparsable date": (_set(date="31/12/2024 25:61"), "staging", "date '31/12/2024 25:61'"),
        "impossible date": (_set(date="2024-02-30T10:00:00.000"), "staging", "date '2024-02-30"),
        "non-numeric coordinates": (_set(latitude="41,88", x_coordinate="n/a"), "flagged",
                                    "castable"),
        "outside Chicago": (_set(latitude="48.8566", longitude="2.3522"), "flagged", "within_range"),
        "date in the future": (_set(date="2031-06-01T12:00:00.000"), "flagged", "within_range"),
        "duplicate in a page": (None, "merged", ""),
        "new column": (_set(new_column="surprise"), "loaded", ""),
        "hostile text": (None, "loaded", ""),
    },
    "service_requests": {
        "no sr_number": (_drop("sr_number"), "ingest", "missing sr_number"),
        "null byte": (_set(street_address=NULL_BYTE_STRINGS[1]), "ingest",
                      "street_address: contains a null byte"),
        "type flip, lossy": (_set(duplicate="maybe"), "ingest", "duplicate: 'maybe' is not a bool"),
        "type flip, lossless": (_set(duplicate="true", ward=12), "loaded", ""),
        "unparsable created_date": (_set(created_date="31/12/2024 25:61"), "staging",
                                    "created_date '31/12/2024 25:61'"),
        "non-numeric coordinates": (_set(latitude="41,88", longitude="n/a"), "flagged", "castable"),
        "duplicate in a page": (None, "merged", ""),
        "new column": (_set(new_column="surprise"), "loaded", ""),
        "hostile text": (None, "loaded", ""),
    },
}
HOSTILE: dict[str, Callable[[int], Patch]] = {
    "crimes": hostile_patch,
    "service_requests": _hostile(("sr_type", "owner_department", "origin", "street_address", "city")),
}
# rows of each dataset: the planted ones, and the others served clean beside them
ROWS = {"small": {"crimes": 2_000, "service_requests": 1_000, "other": 200},
        "full": {"crimes": 20_000, "service_requests": 10_000, "other": 2_000}}
PER_KIND = {"small": 2, "full": 10}


@scenario("bad_data", order=6)
def bad_data(ctx: Context) -> Outcome:
    outcome = Outcome("bad_data")
    per_kind = ctx.pick(PER_KIND["small"], PER_KIND["full"])
    rows = ctx.pick(ROWS["small"], ROWS["full"])
    portal = Portal(rows["crimes"], rows["other"], ctx.seed,
                    counts={name: rows[name] for name in KINDS})
    rng = random.Random(ctx.seed)
    planted = {name: plant(portal[name], name, per_kind, rng) for name in KINDS}
    trial = Trial(seed=ctx.trial_seed(0), fault="bad rows",
                  target=f"{sum(len(v) for p in planted.values() for v in p.values())} rows")
    with workspace("bad_data", keep=ctx.keep) as ws, SampleApi(portal.served) as api:
        from pipelines.chicago import load_dataset
        from pipelines.load import row_paths

        paths = {}
        for name in (*ROW_TABLES, *verify.BOUNDARY_TABLES):
            pipeline = ws.pipeline(name)
            load_dataset(name, pipeline, credentials=ws.loader_url, base_url=api.url, page_size=500,
                         backoff_factor=0)
            paths[name] = row_paths(pipeline).get(name, {})
        build = ws.build()
        if build.returncode != 0:
            trial.errors.append(f"dbt build failed: {dbt_failure(build)}")
        counted = verify.located_rows(ws.conn)
        counts = {name: _verify(ws, portal[name], name, planted.get(name, {}), counted, trial)
                  for name in ROW_TABLES}
        warned = _warnings(ws)
    outcome.add(trial)
    outcome.faults = sum(len(v) for p in planted.values() for v in p.values())
    for name in KINDS:
        path, found = paths[name], counts[name]
        outcome.note(f"{name}: {path.get('rows_loaded', 0)} loaded, {path.get('rows_rejected', 0)} "
                     f"rejected at ingest, {found['staging_rejects']} rejected at staging, "
                     f"{path.get('duplicate_keys_merged', 0)} duplicate keys merged")
    outcome.note("flagged by warn tests: " + ", ".join(f"{t} {n}" for t, n in sorted(warned.items())))
    outcome.rows_expected = sum(c["expected"] for c in counts.values())
    outcome.rows_raw = sum(c["raw"] for c in counts.values())
    outcome.rows_marts = sum(c["marts"] for c in counts.values())
    return outcome


def plant(dataset: Any, name: str, per_kind: int, rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """Patches rows of `dataset` with every kind of bad data of `name`; returns, by kind, the
    (key, :id) of each planted row, as served before the patch."""
    served = [(row[dataset.model.key], row[":id"]) for row in dataset.truth()]
    kinds = KINDS[name]
    picks = rng.sample(served, len(kinds) * per_kind + len(HOSTILE_STRINGS))
    planted: dict[str, list[tuple[str, str]]] = {}
    for kind, (patch, _, _) in kinds.items():
        chosen = [picks.pop() for _ in range(len(HOSTILE_STRINGS) if kind == "hostile text" else per_kind)]
        planted[kind] = chosen
        for i, (key, _) in enumerate(chosen):
            if kind == "hostile text":
                dataset.patch(key, HOSTILE[name](i))
            elif kind == "duplicate in a page":
                dataset.duplicate(key)
            else:
                dataset.patch(key, patch)
    return planted


def _verify(ws: Workspace, dataset: Any, name: str, planted: dict[str, list[tuple[str, str]]],
            counted: dict[str, int], trial: Trial) -> dict[str, int]:
    """Raw, the rejects and the marts of dataset `name` against what was served and planted."""
    served = list(dataset.truth())
    key = dataset.model.key
    kinds = KINDS.get(name, {})
    kind_of = {sid: kind for kind, picks in planted.items() for _, sid in picks}
    ingest_rejected = {s for s, kind in kind_of.items() if kinds[kind][1] == "ingest"}
    staging_rejected = {s for s, kind in kind_of.items() if kinds[kind][1] == "staging"}

    # every served row is in raw or in the ingest rejects, once; raw holds it verbatim
    raw_ids = verify.raw_ids(ws.conn, name)
    reject_sids = _rejects(ws, name)
    expected_in_raw = [r for r in served if r[":id"] not in ingest_rejected]
    missing = {r.get(key) for r in expected_in_raw} - set(raw_ids)
    lost = len(missing) + len(ingest_rejected) - len(ingest_rejected & reject_sids.keys())
    trial.duplicates += verify.duplicates(ws.conn, [name])
    if missing:
        trial.errors.append(f"{name}: {len(missing)} rows neither in raw nor rejected: {sorted(missing)[:5]}")
    if unexpected := reject_sids.keys() - ingest_rejected:
        trial.errors.append(f"{name}: {len(unexpected)} rows rejected at ingest that were served clean")
    for kind, picks in planted.items():
        _, path, expect = kinds[kind]
        if path == "ingest":
            for _, sid in picks:
                reason = reject_sids.get(sid, "")
                if not reason.startswith(expect):
                    trial.errors.append(f"{name}, {kind}: reject reason {reason!r}, expected {expect!r}")
    _check_verbatim(ws, name, key, [r for r in served if kind_of.get(r[":id"]) == "hostile text"], trial)
    if not planted:  # served clean: raw equals the truth, values and all
        if differs := verify.content_differs(ws.conn, verify.Snapshot(served, key), name):
            trial.errors.append(f"{name}: {len(differs)} rows differ from the truth (e.g. {differs[:5]})")

    # staging rejects are listed for analysts; everything else countable is counted
    listed = "select reject_reason from marts.rpt_chicago__rejected_rows where stage = %s and dataset = %s"
    reasons = [r for (r,) in verify.query(ws.conn, listed, ("staging", name))]
    for kind, picks in planted.items():
        if kinds[kind][1] == "staging" and sum(r.startswith(kinds[kind][2]) for r in reasons) != len(picks):
            trial.errors.append(f"{name}, {kind}: not listed in rpt_chicago__rejected_rows: {reasons}")
    listed_ingest = verify.query(ws.conn, "select count(*) from marts.rpt_chicago__rejected_rows "
                                          "where stage = 'ingest' and dataset = %s", (name,))[0][0]
    lost += max(0, len(staging_rejected) - len(reasons)) + max(0, len(ingest_rejected) - listed_ingest)
    countable = [r for r in expected_in_raw if r[":id"] not in staging_rejected]
    marts = counted.get(name, 0)
    if marts != len(countable):
        trial.errors.append(f"{name}: the marts count {marts} records, {len(countable)} can be counted")
    if name == "crimes":
        equal, why = verify.marts_match_truth(ws.conn, verify.Snapshot([_as_staged(r) for r in countable]))
        if not equal:
            trial.errors.append(why)
    lost += max(0, len(countable) - marts)
    trial.lost += lost
    return {"expected": len(served), "raw": len(raw_ids), "marts": marts, "staging_rejects": len(reasons)}


def _rejects(ws: Workspace, name: str) -> dict[str, str]:
    """:id -> reject reason of every row in raw_chicago.<name>_rejects (none: no table)."""
    table = f"{name}_rejects"
    if not verify.table_exists(ws.conn, verify.raw_table(table)):
        return {}
    rows = verify.query(ws.conn, sql.SQL("select reject_reason, record from {}").format(
        sql.Identifier(verify.SCHEMA, table)))
    return {json.loads(record)[":id"]: reason for reason, record in rows}


def _as_staged(row: dict[str, Any]) -> dict[str, Any]:
    """A served row as staging reads it: what does not parse is NULL, "true" is true."""
    row = dict(row)
    area = row.get("community_area")
    if not (isinstance(area, str) and area.strip().isdigit()):
        row.pop("community_area", None)
    for flag in ("arrest", "domestic"):
        if isinstance(row.get(flag), str):
            row[flag] = row[flag].strip().lower() == "true"
    return row


def _check_verbatim(ws: Workspace, name: str, key: str, hostile: list[dict[str, Any]], trial: Trial) -> None:
    """Hostile text arrives byte for byte, in every text column."""
    for row in hostile:
        columns = [k for k, v in row.items() if isinstance(v, str) and not k.startswith(":")]
        select = sql.SQL("select {} from {} where {} = %s").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(verify.SCHEMA, name),
            sql.Identifier(key))
        got = verify.query(ws.conn, select, (row[key],))
        if not got or list(got[0]) != [row[c] for c in columns]:
            trial.errors.append(f"{name}: hostile row {row[key]} not loaded verbatim")


def _warnings(ws: Workspace) -> Counter:
    """Rows each warn-severity test flagged, by test macro, from dbt's run_results.json."""
    results = json.loads((ws.dbt_target / "run_results.json").read_text())["results"]
    out: Counter = Counter()
    for result in results:
        if result["status"] == "warn":
            name = result["unique_id"].split(".")[2]
            macro = next((m for m in ("castable", "within_range", "relationships") if m in name), name)
            out[macro] += int(result.get("failures") or 0)
    return out
