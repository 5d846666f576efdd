"""Socrata specifics the rest_api config cannot say: response checks and clear errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from requests import Response
from requests.exceptions import ChunkedEncodingError, HTTPError, RequestException

from pipelines.load import SourceError, causes
from pipelines.urls import safe_url

NOTHING_LOST = ("Nothing from this run was loaded and the cursor did not move: the next run "
                "starts where the last successful load ended.")


class SocrataError(SourceError):
    """A Socrata request failed for good: says which dataset, which URL and what to do.

    `retriable` is False when running again cannot help (a bad query, a refused token).
    """


class SocrataBadPage(ChunkedEncodingError):
    """A 200 whose body is not a JSON list of rows.

    A ChunkedEncodingError on purpose: dlt's HTTP client retries those, and a cut
    connection is the usual cause of a truncated body.
    """


def check_page(response: Response, *args: Any, **kwargs: Any) -> Response:
    """Response hook: a 200 must carry a JSON list of rows; parse it once and keep it.

    Error statuses are left to dlt's retry and raise_for_status hooks, which see them next.
    """
    return _check_body(response, list, "a list of rows")


def check_document(response: Response, *args: Any, **kwargs: Any) -> Response:
    """Response hook for a JSON object (GeoJSON export, view metadata); as check_page."""
    return _check_body(response, dict, "an object")


def _check_body(response: Response, expected: type, what: str) -> Response:
    # A hook runs inside the request, so SocrataBadPage is retried by dlt's client.
    if response.status_code != 200:
        return response
    try:
        body = json.loads(response.content)
    except ValueError as err:
        raise SocrataBadPage(
            f"GET {safe_url(response.url)} returned HTTP 200 with a body that is not valid JSON "
            f"({err.msg} at character {err.pos} of {len(response.content)}). "
            "The portal may be overloaded or the connection was cut: rerun the load."
        ) from None
    if not isinstance(body, expected):
        raise SocrataBadPage(
            f"GET {safe_url(response.url)} returned HTTP 200 with a JSON "
            f"{type(body).__name__}, expected {what}: {str(body)[:200]}"
        )
    # The caller calls response.json() next: hand it the parsed body instead of parsing twice.
    response.json = lambda **_: body  # type: ignore[method-assign]
    return response


def soql_timestamp(value: datetime) -> str:
    """A UTC instant as a SoQL literal, in the portal's own format: 2024-01-31T12:00:00.000Z."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def failed_dataset(err: BaseException, datasets: Mapping[str, Any]) -> str:
    """"<name> (<id>)" of the dataset whose request failed, found by the id in its URL."""
    for cause in causes(err):
        request = getattr(cause, "request", None) or getattr(
            getattr(cause, "response", None), "request", None)
        where = f"{getattr(request, 'url', None)} {cause}"  # a bad page names its URL
        for name, dataset in datasets.items():
            if f"/{dataset.id}." in where:
                return f"{name} ({dataset.id})"
    return "of the chicago source"


def explain(err: BaseException, datasets: Mapping[str, Any]) -> SocrataError | None:
    """Turns an HTTP failure somewhere in `err`'s chain into a SocrataError, else None."""
    dataset = failed_dataset(err, datasets)
    for cause in causes(err):
        if isinstance(cause, SocrataError):
            return cause
        if isinstance(cause, SocrataBadPage):
            return SocrataError(f"dataset {dataset}: {cause}")
        if isinstance(cause, HTTPError) and cause.response is not None:
            status = cause.response.status_code
            return SocrataError(_http_message(dataset, cause.response),
                                retriable=status not in (400, 401, 403, 404))
        if isinstance(cause, RequestException) and cause.request is not None:
            # no answer at all: connection refused or reset, or past the request timeout
            return SocrataError(
                f"dataset {dataset}: GET {safe_url(cause.request.url)} failed after every "
                f"retry: {type(cause).__name__}. The portal is unreachable or too slow: check "
                f"SOURCES__CHICAGO__BASE_URL and the network, or raise "
                f"SOURCES__CHICAGO__REQUEST_TIMEOUT. {NOTHING_LOST}")
    return None


def _http_message(dataset: str, response: Response) -> str:
    status = response.status_code
    detail = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            detail = " ".join(
                str(body[k]) for k in ("errorCode", "code", "message") if body.get(k)
            )
    except ValueError:
        detail = response.text[:200]
    hint = {
        400: "The query is invalid for this dataset: check the declared columns and $where.",
        401: "Check SOURCES__CHICAGO__APP_TOKEN.",
        403: "Check SOURCES__CHICAGO__APP_TOKEN (the portal refused it).",
        404: "Check the dataset id and SOURCES__CHICAGO__BASE_URL.",
        429: "The portal kept rate limiting after every retry: set an app token or retry later.",
    }.get(status, "The portal kept failing after every retry: retry later.")
    return (
        f"dataset {dataset}: GET {safe_url(response.url)} returned HTTP {status}"
        f"{': ' + detail if detail else ''}. {hint} {NOTHING_LOST}"
    )
