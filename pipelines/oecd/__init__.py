"""OECD statistics (SDMX REST, SDMX-CSV), loaded incrementally into raw_oecd.<dataflow>.

What is loaded is declared in dataflows.yml (see settings.py). Each dataflow loads through
a pipeline of its own (`oecd_<name>`), so one failing dataflow, or a budget that runs out,
never costs the others their loads. Run it on its own with `python -m pipelines.oecd`.

A dataflow's first load asks for everything since `start_period` (`format=csv`, codes
only); later loads ask only for what changed (`format=csvfilewithlabels&updatedAfter=`),
whose ACTION column says I (new), R (revised) or D (deleted); rows merge on
(series_key, time_period) and D rows are deleted (`hard_delete` on `deleted`). OECD
answers "nothing changed" with 404 NoResultsFound: a success that loads nothing.
Every HTTP attempt takes a slot of the machine's OECD budget first (budget.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Client
from requests.exceptions import RequestException

from pipelines import load
from pipelines.load import HTTP_RETRY, postgres_pipeline
from pipelines.urls import safe_url, split_credentials

from .budget import OecdBudgetExceeded, RequestLedger, mount_budget
from .budget import ledger_path as default_ledger_path
from .helpers import NOTHING_LOST, OecdError, explain, http_error, no_results, unreachable
from .sdmx_csv import CODES_ONLY, WITH_LABELS, SdmxCsvError, parse_sdmx_csv
from .settings import OECD_URL, Dataflow, load_dataflows, load_settings

__all__ = ["OecdBudgetExceeded", "OecdError", "dataflow_pipeline", "dataflow_source",
           "explain_failure", "load_dataflow", "load_oecd", "oecd_source"]

log = logging.getLogger(__name__)
SOURCE_NAME = "oecd"  # the raw schema is raw_oecd; config lives under [sources.oecd]

# The columns every dataflow has; dimensions and other attributes come typed from Arrow.
COLUMNS: TTableSchemaColumns = {
    "dataflow": {"data_type": "text", "nullable": True},
    "series_key": {"data_type": "text", "nullable": False, "primary_key": True},
    "time_period": {"data_type": "text", "nullable": False, "primary_key": True},
    "obs_value": {"data_type": "double", "nullable": True},
    "unit_mult": {"data_type": "bigint", "nullable": True},
    "decimals": {"data_type": "bigint", "nullable": True},
    "deleted": {"data_type": "bool", "nullable": True, "hard_delete": True},
}


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def oecd_source(
    dataflows: Sequence[str] | None = None,
    base_url: str = OECD_URL,
    overlap_seconds: float = 3600.0,
    request_timeout: float = 120.0,
    max_attempts: int = 3,
    backoff_factor: float = 2.0,
    requests_per_hour: int | None = None,
    min_seconds_between_requests: float | None = None,
    max_wait_seconds: float = 0.0,
    ledger_path: str | None = None,
) -> list[DltResource]:
    """The declared OECD dataflows (all, or those named) as dlt resources, one table each.

    Every value is dlt configuration under `[sources.oecd]` (SOURCES__OECD__BASE_URL, ...).
    `requests_per_hour` and `min_seconds_between_requests` default to dataflows.yml's;
    `max_wait_seconds` is how long a request may wait for a budget slot before the run
    stops with OecdBudgetExceeded; `ledger_path` defaults to the machine's ledger
    (budget.machine_ledger_path). `overlap_seconds` is re-asked before the last successful
    load's start on every incremental load, so a clock skew between us and OECD loses
    nothing (rows merge on their key, so asking twice is harmless).
    """
    settings = load_settings()
    declared = settings.dataflows
    unknown = sorted(set(dataflows or ()) - set(declared))
    if unknown:
        raise OecdError(f"unknown OECD dataflow(s) {', '.join(unknown)}; declared: "
                        f"{', '.join(declared)} ({settings.path})", retriable=False)
    ledger = RequestLedger(
        ledger_path or default_ledger_path(),
        requests_per_hour or settings.requests_per_hour,
        settings.min_seconds_between_requests if min_seconds_between_requests is None
        else min_seconds_between_requests,
        max_wait_seconds,
    )
    http = Client(
        request_timeout=request_timeout,
        request_max_attempts=max_attempts,
        request_backoff_factor=backoff_factor,
        raise_for_status=False,  # statuses are read below: 404 may mean "nothing changed"
        **HTTP_RETRY,
    )
    # user:password in the base URL (a proxy's) travels as a header: never in a URL that is
    # logged, raised or kept in state
    base_url, auth = split_credentials(base_url.rstrip("/"))
    http.session.auth = auth
    return [_dataflow_resource(declared[name], base_url, http, ledger, overlap_seconds)
            for name in (dataflows or declared)]


def data_url(base_url: str, flow: Dataflow, updated_after: datetime | None) -> str:
    """The data query: everything since start_period (codes), or what changed (labelled)."""
    params = [f"startPeriod={flow.start_period}", "dimensionAtObservation=AllDimensions"]
    if updated_after is None:
        params.append(f"format={CODES_ONLY}")
    else:
        stamp = updated_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        params += [f"format={WITH_LABELS}", f"updatedAfter={stamp}"]
    return f"{base_url}/data/{flow.flow_ref}/{flow.query_key}?{'&'.join(params)}"


def _dataflow_resource(flow: Dataflow, base_url: str, http: Client, ledger: RequestLedger,
                       overlap_seconds: float) -> DltResource:
    @dlt.resource(name=flow.name, primary_key=("series_key", "time_period"),
                  write_disposition="merge", columns=COLUMNS)
    def observations() -> Iterator[Any]:
        state = dlt.current.resource_state()
        last = state.get("last_request_started_at")
        updated_after = None
        if last:
            updated_after = datetime.fromisoformat(last) - timedelta(seconds=overlap_seconds)
        started = datetime.now(UTC)  # before the request: a change made while it runs is re-asked
        url = data_url(base_url, flow, updated_after)
        shown = safe_url(url)
        session = http.session
        mount_budget(session, ledger, f"dataflow {flow.name}")
        try:
            response = session.get(url, headers={"Accept": "text/csv, */*;q=0.1"})
        except OecdError:
            raise
        except RequestException as err:
            raise unreachable(flow.name, shown, err) from err
        if no_results(response):
            log.info("oecd.%s: nothing %s (404 NoResultsFound)", flow.name,
                     "changed since " + updated_after.isoformat() if updated_after else "found")
        elif response.status_code != 200:
            raise http_error(flow.name, shown, response)
        else:
            try:
                parsed = parse_sdmx_csv(response.text, flow.name, shown)
            except SdmxCsvError as err:
                raise OecdError(f"{err} {NOTHING_LOST}", retriable=err.retriable) from err
            if problem := incomplete(response.text, parsed.num_rows):
                # loaded as it is, the cursor would move past every observation it lacks
                raise OecdError(f"dataflow {flow.name}: GET {shown} returned HTTP 200 with {problem}. "
                                f"Retry later. {NOTHING_LOST}", retriable=True)
            log.info("oecd.%s: %d observations (%d deleted) from %s", flow.name,
                     parsed.num_rows, parsed.deleted, shown)
            if parsed.num_rows:
                yield parsed.table
        # every row was yielded: the next load asks for what changed since this request began
        state["last_request_started_at"] = started.isoformat()
        state["last_url"] = shown

    return observations


def incomplete(text: str, rows: int) -> str:
    """What says an SDMX-CSV answer is not whole ("" when nothing does): OECD ends every
    body with a line end, and answers 404 NoResultsFound rather than a header alone."""
    if not text.endswith("\n"):
        return f"a body that ends mid-line ({text.rstrip()[-60:]!r}): it was cut"
    if not rows:
        return ("an SDMX-CSV header and no observations, where OECD answers 404 NoResultsFound "
                "when nothing matches: the answer is incomplete")
    return ""


def dataflow_source(name: str, **source_args: Any) -> Any:
    """One dataflow as a source of its own; its schema is `oecd_<name>`."""
    return oecd_source.clone(name=pipeline_name(name))(dataflows=[name], **source_args)


def pipeline_name(name: str) -> str:
    return f"{SOURCE_NAME}_{name}"


def dataflow_pipeline(name: str, pipelines_dir: str | Path | None = None) -> dlt.Pipeline:
    """The dlt pipeline of one dataflow: `oecd_<name>`, loading into raw_oecd."""
    return postgres_pipeline(SOURCE_NAME, pipelines_dir, pipeline_name=pipeline_name(name))


def explain_failure(err: BaseException) -> OecdError | None:
    """The OECD source's clear error for a failed run, or None."""
    return explain(err, load_dataflows())


def load_dataflow(
    name: str,
    pipeline: dlt.Pipeline | None = None,
    credentials: str | None = None,
    **source_args: Any,
) -> LoadInfo:
    """Loads one declared dataflow into raw_oecd.<name>; returns dlt's load info.

    Its requests count in the machine's ledger, whatever the pipeline's folder or database,
    unless SOURCES__OECD__LEDGER_PATH or `ledger_path` names another. A failure surfaces as
    an OecdError (OecdBudgetExceeded when the hour's requests are spent) naming the
    dataflow, URL and what to do.
    """
    pipeline = pipeline or dataflow_pipeline(name)
    return load.run_source(pipeline, dataflow_source(name, **source_args), credentials=credentials,
                      explain=explain_failure)


def load_oecd(
    dataflows: Sequence[str] | None = None,
    credentials: str | None = None,
    pipelines_dir: str | Path | None = None,
    **source_args: Any,
) -> dict[str, LoadInfo]:
    """Loads every declared dataflow (or those named), each through its own pipeline.

    A dataflow that fails does not stop the others; afterwards the failures are raised
    together as one OecdError. When the request budget runs out, the remaining dataflows
    are not tried (each would only fail the same way) and the error is OecdBudgetExceeded.
    """
    names = list(dataflows or load_dataflows())
    infos: dict[str, LoadInfo] = {}
    failures: list[OecdError] = []
    exhausted: OecdBudgetExceeded | None = None
    for i, name in enumerate(names):
        try:
            infos[name] = load_dataflow(name, dataflow_pipeline(name, pipelines_dir),
                                        credentials=credentials, **source_args)
        except OecdBudgetExceeded as err:
            log.error("%s", err)
            exhausted = err
            failures.append(err)
            if rest := names[i + 1:]:
                failures.append(OecdError(
                    f"dataflow(s) {', '.join(rest)} not requested: the OECD request budget is "
                    f"spent (see above). Their cursors did not move."))
            break
        except OecdError as err:
            log.error("%s", err)
            failures.append(err)
    if exhausted:
        raise OecdBudgetExceeded("\n".join(map(str, failures)), used=exhausted.used,
                                 budget=exhausted.budget, next_slot_at=exhausted.next_slot_at)
    if failures:
        raise OecdError("\n".join(map(str, failures)),
                        retriable=all(err.retriable for err in failures))
    return infos
