"""A failed run reaches the operator: run_failure_alert posts what failed, and why, to the
webhook, and never writes the webhook's URL (a secret) anywhere."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from orchestration.defs.alerts import AlertError, run_failure_alert


class Webhook:
    """A chat webhook on 127.0.0.1 that keeps what it is sent, or answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T0-secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def failed_scheduled_run(defs, warehouse_db):
    """A real run of a refresh job, tagged as its schedule tags it, whose load fails."""
    with pytest.MonkeyPatch.context() as patch, dg.instance_for_test() as instance:
        patch.setenv("SOURCES__CHICAGO__BASE_URL", "http://pulse-no-such-host.invalid/resource")
        result = defs.resolve_job_def("chicago_crimes_refresh").execute_in_process(
            instance=instance, raise_on_error=False,
            tags={"dagster/schedule_name": "chicago_crimes_schedule"})
        assert not result.success
        yield instance, result


def _evaluate(instance, result, monkeypatch, webhook_url: str | None, caplog) -> None:
    if webhook_url:
        monkeypatch.setenv("PULSE_ALERT_WEBHOOK_URL", webhook_url)
    monkeypatch.setenv("PULSE_DAGSTER_URL", "http://127.0.0.1:3000")
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_instance=instance,
        dagster_run=result.dagster_run, dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    run_failure_alert()(context)


def test_a_failed_scheduled_run_is_posted_with_its_reason(failed_scheduled_run, monkeypatch,
                                                          caplog):
    instance, result = failed_scheduled_run
    hook = Webhook()
    try:
        _evaluate(instance, result, monkeypatch, hook.url, caplog)
    finally:
        hook.close()
    [alert] = hook.received
    text = alert["text"]
    assert text.startswith("Pulse: run of chicago_crimes_refresh failed, started by schedule "
                           "chicago_crimes_schedule.")
    assert "- step chicago_crimes" in text and "does not resolve" in text
    assert f"http://127.0.0.1:3000/runs/{result.run_id}" in text
    assert "T0-secret-token" not in caplog.text


def test_a_webhook_that_refuses_fails_the_tick_without_its_url(failed_scheduled_run, monkeypatch,
                                                              caplog):
    instance, result = failed_scheduled_run
    hook = Webhook(status=500)
    try:
        with pytest.raises(AlertError) as refused:
            _evaluate(instance, result, monkeypatch, hook.url, caplog)
    finally:
        hook.close()
    assert "answered HTTP 500" in str(refused.value) and "PULSE_ALERT_WEBHOOK_URL" in str(refused.value)
    assert "secret-token" not in str(refused.value) and "secret-token" not in caplog.text
    assert len(hook.received) == 1


def test_the_sensor_runs_by_default_and_is_in_the_code_location(defs):
    sensor = defs.resolve_sensor_def("run_failure_alert")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
