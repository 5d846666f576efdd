"""Tell the operator when a run fails: the schedules run at night, and a failed run in the
UI that nobody opens is a report that silently stops changing.

`run_failure_alert` sees every failed run of this code location. It always logs a line
(the sensor's ticks in the UI); with `PULSE_ALERT_WEBHOOK_URL` set it also POSTs
`{"text": ...}`, the shape Slack, Mattermost and most chat webhooks take. The webhook's
URL is a secret (it carries its token): it is never logged, not even when it fails.
"""

import json
import os
import urllib.error
import urllib.request

import dagster as dg

WEBHOOK_ENV = "PULSE_ALERT_WEBHOOK_URL"
UI_ENV = "PULSE_DAGSTER_URL"  # e.g. http://127.0.0.1:3000: the alert links to the run
MAX_ERROR_CHARS = 600  # the first lines say what failed; the run's page has the rest


class AlertError(RuntimeError):
    """The webhook did not take the alert (the tick fails, and the sensor tries again)."""


def alert_text(run: dg.DagsterRun, step_errors: list[tuple[str, str]]) -> str:
    """What the operator reads: which job, started by what, which steps, and why."""
    started_by = (f"schedule {run.tags['dagster/schedule_name']}" if "dagster/schedule_name" in run.tags
                  else f"sensor {run.tags['dagster/sensor_name']}" if "dagster/sensor_name" in run.tags
                  else "a person (launched by hand)")
    lines = [f"Pulse: run of {run.job_name} failed, started by {started_by}."]
    for step, error in step_errors:
        lines.append(f"- step {step}: {error.strip()[:MAX_ERROR_CHARS]}")
    if not step_errors:
        lines.append("- no step failed: the run itself did (see its events)")
    if ui := os.environ.get(UI_ENV):
        lines.append(f"{ui.rstrip('/')}/runs/{run.run_id}")
    return "\n".join(lines)


def post(webhook: str, text: str, timeout: float = 10.0) -> None:
    request = urllib.request.Request(webhook, data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (http(s) only, below)
            answer.read()
    except urllib.error.HTTPError as err:
        raise AlertError(f"the alert webhook ({WEBHOOK_ENV}) answered HTTP {err.code}; the "
                         "alert was not delivered and is tried again next tick") from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise AlertError(f"the alert webhook ({WEBHOOK_ENV}) is unreachable "
                         f"({type(reason).__name__}); the alert is tried again next tick") from None


def webhook_url() -> str | None:
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise AlertError(f"{WEBHOOK_ENV} must be an http(s) URL")
    return url or None


def run_failure_alert() -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="run_failure_alert",
        description="Logs every failed run of Pulse's jobs, and posts it to "
        f"{WEBHOOK_ENV} when set. Running by default: it only reads this instance's runs.",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
    )
    def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
        step_errors = [(event.step_key or "?", _error_message(event))
                       for event in context.get_step_failure_events()]
        text = alert_text(context.dagster_run, step_errors)
        context.log.warning(text)
        if webhook := webhook_url():
            post(webhook, text)

    return run_failure_alert


def _error_message(event: dg.DagsterEvent) -> str:
    error = getattr(event.event_specific_data, "error", None)
    return error.message if error is not None else (event.message or "")
