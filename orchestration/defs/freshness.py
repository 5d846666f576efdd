"""dbt source freshness as Dagster asset checks: a stale source is a failed check on its table.

dbt knows each source's `loaded_at_field` and thresholds (the sources YAML); this runs
`dbt source freshness` and reports each result on the raw table's asset: `warn` fails
with WARN severity, `error` (or a table that is not there) with ERROR.
"""

import functools
import json
from collections.abc import Iterator

import dagster as dg
from dagster_dbt import DbtCliResource

from ..lib.dbt_project import manifest
from ..lib.keys import raw_table_key
from ..lib.resources import WarehouseResource

CHECK_NAME = "source_freshness"


def _sources_with_freshness() -> dict[str, dict]:
    """dbt unique_id -> source node, for the sources that declare thresholds."""
    return {
        uid: node for uid, node in manifest()["sources"].items()
        if (node.get("freshness") or {}).get("warn_after", {}).get("count")
        or (node.get("freshness") or {}).get("error_after", {}).get("count")
    }


def thresholds(freshness: dict) -> str:
    """{'warn_after': {'count': 26, 'period': 'hour'}, ...} in words: "warns when the
    newest load is older than 26 hours, fails when older than 50 hours"."""
    said = []
    for level, verb in (("warn_after", "warns"), ("error_after", "fails")):
        count, period = ((freshness.get(level) or {}).get(key) for key in ("count", "period"))
        if count and period:
            said.append(f"{verb} when {'the newest load is ' if not said else ''}older than "
                        f"{count} {period}{'s' if count != 1 else ''}")
    return ", ".join(said) or "no threshold"


def _key(node: dict) -> dg.AssetKey:
    return raw_table_key(node["schema"], node["identifier"])


@functools.cache
def freshness_checks() -> dg.AssetChecksDefinition:
    sources = _sources_with_freshness()
    specs = [
        dg.AssetCheckSpec(CHECK_NAME, asset=_key(node),
                          description=f"dbt source freshness: {thresholds(node['freshness'])}.")
        for node in sources.values()
    ]

    @dg.multi_asset_check(specs=specs, name="dbt_source_freshness", can_subset=True)
    def dbt_source_freshness(context: dg.AssetCheckExecutionContext, dbt: DbtCliResource,
                             warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
        selected = {key.asset_key for key in context.selected_asset_check_keys}
        chosen = {uid: node for uid, node in sources.items() if _key(node) in selected}
        select = [f"source:{node['source_name']}.{node['name']}" for node in chosen.values()]
        with warehouse.dbt_env():  # as the transformer, which reads raw
            invocation = dbt.cli(["source", "freshness", "--select", " ".join(select)],
                                 raise_on_error=False)
            invocation.wait()
        results = {r["unique_id"]: r for r in _results(invocation.target_path)}
        for uid, node in chosen.items():
            yield _check_result(node, results.get(uid))

    return dbt_source_freshness


def _results(target_path) -> list[dict]:
    path = target_path / "sources.json"
    return json.loads(path.read_text()).get("results", []) if path.exists() else []


def _check_result(node: dict, result: dict | None) -> dg.AssetCheckResult:
    status = (result or {}).get("status", "runtime error")
    metadata: dict = {"status": status}
    if result and status != "runtime error":
        metadata.update(max_loaded_at=result["max_loaded_at"], snapshotted_at=result["snapshotted_at"],
                        age_hours=round(result["max_loaded_at_time_ago_in_s"] / 3600, 2))
    elif result:
        metadata["error"] = str(result.get("message") or result.get("error"))[:500]
    return dg.AssetCheckResult(
        asset_key=_key(node),
        check_name=CHECK_NAME,
        passed=status == "pass",
        severity=dg.AssetCheckSeverity.WARN if status == "warn" else dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


@functools.cache
def freshness_job():  # an unresolved asset job, resolved by Definitions
    return dg.define_asset_job(
        "chicago_source_freshness",
        selection=dg.AssetSelection.checks(freshness_checks()),
        description="dbt source freshness of every raw table, as asset checks.",
    )


@functools.cache
def freshness_schedule() -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        job=freshness_job(),
        cron_schedule="5 * * * *",  # hourly, after the hourly loads
        execution_timezone="America/Chicago",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Hourly: how old each raw table's newest load is. Starts stopped with "
        "the refresh schedules whose loads it watches; turn it on with them.",
    )
