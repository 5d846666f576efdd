"""Bad data from the API: every kind of malformed row, and hostile text, each with its
documented outcome (README "What Pulse guarantees"):

| input                                   | outcome                                         |
|-----------------------------------------|-------------------------------------------------|
| no `id`                                 | rejected at ingest (raw_chicago.crimes_rejects)  |
| null byte in a text field               | rejected at ingest                               |
| `arrest: "maybe"` (a type that flipped) | rejected at ingest                               |
| `arrest: "true"`, `ward: 12` (flipped)  | coerced losslessly, loaded                       |
| `id` not a number                       | in raw, rejected at staging (not counted)        |
| unparsable `date`                       | in raw, rejected at staging                      |
| non-numeric coordinates                 | loaded, NULL in staging, warn test `castable`    |
| coordinates outside Chicago             | loaded, warn test `within_range`                 |
| a date in the future                    | loaded, warn test `within_range`                 |
| the same id twice in one page           | merged to one row (newest wins)                  |
| a new column                            | loaded as a new text column of raw               |
| quotes, SQL, templates, 100 KB text     | loaded verbatim                                  |

Both rejects are listed for analysts in marts.rpt_chicago__rejected_rows. Nothing is
lost: every served row is in raw or in the rejects, and the marts count exactly the
rows that can be counted.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from pulse.sample_api import CrimesDataset, SampleApi
from pulse.sample_api.hostile import HOSTILE_STRINGS, NULL_BYTE_STRINGS, hostile_patch
from reliability import verify
from reliability.outcome import Outcome, Trial
from reliability.scenarios import Context, scenario
from reliability.workspace import Workspace, dbt_failure, workspace

Patch = Callable[[dict[str, Any]], dict[str, Any]]


def _set(**values: Any) -> Patch:
    return lambda row: {**row, **values}


def _drop(key: str) -> Patch:
    return lambda row: {k: v for k, v in row.items() if k != key}


# kind -> (patch, path, the reject reason's start, or the warn test that flags it)
KINDS: dict[str, tuple[Patch | None, str, str]] = {
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
}
ROWS = {"small": 2_000, "full": 20_000}
PER_KIND = {"small": 2, "full": 10}


@scenario("bad_data", order=6)
def bad_data(ctx: Context) -> Outcome:
    outcome = Outcome("bad_data")
    per_kind = ctx.pick(PER_KIND["small"], PER_KIND["full"])
    dataset = CrimesDataset(ctx.pick(ROWS["small"], ROWS["full"]), seed=ctx.seed)
    rng = random.Random(ctx.seed)
    ids = rng.sample([int(row["id"]) for row in dataset.truth()], len(KINDS) * per_kind
                     + len(HOSTILE_STRINGS))
    planted: dict[str, list[int]] = {}
    for kind, (patch, _, _) in KINDS.items():
        picks = [ids.pop() for _ in range(len(HOSTILE_STRINGS) if kind == "hostile text"
                                          else per_kind)]
        planted[kind] = picks
        for i, row_id in enumerate(picks):
            if kind == "hostile text":
                dataset.patch(row_id, hostile_patch(i))
            elif kind == "duplicate in a page":
                dataset.duplicate(row_id)
            else:
                dataset.patch(row_id, patch)
    trial = Trial(seed=ctx.trial_seed(0), fault="bad rows", target=f"{sum(map(len, planted.values()))} rows")
    with workspace("bad_data", keep=ctx.keep) as ws, SampleApi(dataset) as api:
        pipeline = ws.pipeline()
        from pipelines.chicago import load_dataset

        load_dataset("crimes", pipeline, credentials=ws.url, base_url=api.url, page_size=500,
                     backoff_factor=0)
        from pipelines._common import row_paths

        paths = row_paths(pipeline)["crimes"]
        build = ws.dbt_build()
        if build.returncode != 0:
            trial.errors.append(f"dbt build failed: {dbt_failure(build)}")
        counts = _verify(ws, dataset, planted, trial)
        warned = _warnings(ws)
    outcome.add(trial)
    outcome.faults = sum(len(v) for v in planted.values())
    rejected_ingest = paths["rows_rejected"]
    outcome.note(f"{paths['rows_loaded']} loaded, {rejected_ingest} rejected at ingest, "
                 f"{counts['staging_rejects']} rejected at staging, "
                 f"{paths['duplicate_keys_merged']} duplicate ids merged, "
                 f"flagged by warn tests: " + ", ".join(f"{t} {n}" for t, n in sorted(warned.items())))
    outcome.rows_expected, outcome.rows_raw, outcome.rows_marts = (
        counts["expected"], counts["raw"], counts["marts"])
    return outcome


def _verify(ws: Workspace, dataset: CrimesDataset, planted: dict[str, list[int]],
            trial: Trial) -> dict[str, int]:
    served = list(dataset.truth())
    paths = {kind: path for kind, (_, path, _) in KINDS.items()}
    by_sid = {_sid(dataset, i): kind for kind, picks in planted.items() for i in picks}
    ingest_rejected = {s for s, kind in by_sid.items() if paths[kind] == "ingest"}
    staging_rejected = {s for s, kind in by_sid.items() if paths[kind] == "staging"}

    # every served row is in raw or in the ingest rejects, once; raw holds it verbatim
    raw_ids = verify.raw_ids(ws.conn)
    rejects = verify.query(ws.conn, "select reject_reason, record from raw_chicago.crimes_rejects")
    reject_sids = {json.loads(record)[":id"]: reason for reason, record in rejects}
    expected_in_raw = [r for r in served if r[":id"] not in ingest_rejected]
    missing = {r.get("id") for r in expected_in_raw} - set(raw_ids)
    lost = len(missing) + len(ingest_rejected) - len(reject_sids)
    trial.duplicates += verify.duplicates(ws.conn)
    if missing:
        trial.errors.append(f"{len(missing)} rows neither in raw nor rejected: {sorted(missing)[:5]}")
    for kind, picks in planted.items():
        _, path, expect = KINDS[kind]
        if path == "ingest":
            for row_id in picks:
                reason = reject_sids.get(_sid(dataset, row_id), "")
                if not reason.startswith(expect):
                    trial.errors.append(f"{kind}: reject reason {reason!r}, expected {expect!r}")
    _check_verbatim(ws, [r for r in served if by_sid.get(r[":id"]) == "hostile text"], trial)

    # staging rejects are listed for analysts; everything else countable is counted
    reasons = [r for (r,) in verify.query(ws.conn, "select reject_reason from "
                                          "marts.rpt_chicago__rejected_rows where stage = 'staging'")]
    for kind, picks in planted.items():
        if KINDS[kind][1] == "staging" and sum(r.startswith(KINDS[kind][2]) for r in reasons) != len(picks):
            trial.errors.append(f"{kind}: not listed in rpt_chicago__rejected_rows: {reasons}")
    listed_ingest = verify.query(ws.conn, "select count(*) from marts.rpt_chicago__rejected_rows "
                                 "where stage = 'ingest'")[0][0]
    lost += max(0, len(staging_rejected) - len(reasons)) + max(0, len(ingest_rejected) - listed_ingest)
    countable = verify.Snapshot([_as_staged(r) for r in expected_in_raw
                                 if r[":id"] not in staging_rejected])
    marts = verify.marts_rows(ws.conn)
    equal, why = verify.marts_match_truth(ws.conn, countable)
    if not equal:
        trial.errors.append(why)
    lost += max(0, len(countable.rows) - marts)
    trial.lost += lost
    return {"expected": len(served), "raw": len(raw_ids), "marts": marts,
            "staging_rejects": len(reasons)}


def _sid(dataset: CrimesDataset, row_id: int | str) -> str:
    return dataset.sid(int(row_id))


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


def _check_verbatim(ws: Workspace, hostile: list[dict[str, Any]], trial: Trial) -> None:
    """Hostile text arrives byte for byte, in every text column."""
    from psycopg2 import sql

    for row in hostile:
        columns = [k for k, v in row.items() if isinstance(v, str) and not k.startswith(":")]
        select = sql.SQL("select {} from raw_chicago.crimes where id = %s").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)))
        got = verify.query(ws.conn, select, (row["id"],))
        if not got or list(got[0]) != [row[c] for c in columns]:
            trial.errors.append(f"hostile row {row['id']} not loaded verbatim")


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
