"""OECD specifics: clear errors for every way a data query can fail, and what 404 means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from requests import Response
from requests.exceptions import HTTPError, RequestException

from pipelines.load import SourceError, causes
from pipelines.urls import safe_url

NOTHING_LOST = ("Nothing from this run was loaded and the cursor did not move: the next run "
                "asks again from where the last successful load ended.")


class OecdError(SourceError):
    """An OECD data query failed for good: says which dataflow, which URL and what to do.

    `retriable` is False when running again cannot help (an unknown dataflow, a bad key).
    """


def no_results(response: Response) -> bool:
    """True for SDMX's "nothing matches" answer: 404 NoResultsFound (or NoRecordsFound).

    With updatedAfter it means nothing changed since then: a success that loads nothing.
    """
    return response.status_code == 404 and any(
        marker in response.text[:2000] for marker in ("NoResultsFound", "NoRecordsFound",
                                                      "No Results Found"))


def http_error(dataflow: str, url: str, response: Response) -> OecdError:
    """The OecdError for a non-200 answer that is not "no results"."""
    status = response.status_code
    body = " ".join(response.text[:300].split())
    detail = f": {body}" if body and not body.lstrip().startswith("<") else ""
    if status == 404 and "NoStructureFound" in response.text[:2000]:
        return OecdError(
            f"dataflow {dataflow}: GET {url} returned HTTP 404{detail}. OECD does not know this "
            f"dataflow: check its agency, id and version in pipelines/oecd/dataflows.yml (or "
            f"$PULSE_OECD_DATAFLOWS) against the OECD Data Explorer. {NOTHING_LOST}", retriable=False)
    if status == 429:
        retry_after = response.headers.get("Retry-After")
        wait = f"OECD asks to wait {retry_after} s (Retry-After)" if retry_after else \
            "OECD sent no Retry-After"
        return OecdError(
            f"dataflow {dataflow}: GET {url} returned HTTP 429 (too many requests) after every "
            f"retry; {wait}. Run again later, and keep requests_per_hour in "
            f"pipelines/oecd/dataflows.yml below OECD's limit. {NOTHING_LOST}", retriable=True)
    hint = {
        400: ("OECD refused the query: check the dataflow's key (one part per dimension, "
              "separated by '.') and start_period in pipelines/oecd/dataflows.yml.", False),
        401: ("OECD refused access: check SOURCES__OECD__BASE_URL points at the public API.", False),
        403: ("OECD refused access (it blocks clients that exceed its rate limit for a while): "
              "retry later.", True),
        404: ("Nothing answers at this address: check SOURCES__OECD__BASE_URL "
              "(default https://sdmx.oecd.org/public/rest).", False),
    }
    message, retriable = hint.get(status, ("OECD kept failing after every retry: retry later.", True))
    return OecdError(f"dataflow {dataflow}: GET {url} returned HTTP {status}{detail}. {message} "
                     f"{NOTHING_LOST}", retriable=retriable)


def unreachable(dataflow: str, url: str, err: RequestException) -> OecdError:
    """The OecdError for a request that got no answer (refused, reset, timed out)."""
    return OecdError(
        f"dataflow {dataflow}: GET {url} failed after every retry: {type(err).__name__}. OECD is "
        f"unreachable or too slow: check SOURCES__OECD__BASE_URL and the network, or raise "
        f"SOURCES__OECD__REQUEST_TIMEOUT. {NOTHING_LOST}")


def explain(err: BaseException, dataflows: Mapping[str, Any]) -> OecdError | None:
    """The OecdError somewhere in `err`'s chain (the resource raises them), else one made
    from an HTTP failure in the chain, else None."""
    for cause in causes(err):
        if isinstance(cause, OecdError):
            return cause
    for cause in causes(err):
        request = getattr(cause, "request", None)
        url = safe_url(getattr(request, "url", None) or "?")
        name = next((n for n, flow in dataflows.items() if f"/{flow.flow_ref}/" in str(url)),
                    "of the oecd source")
        if isinstance(cause, HTTPError) and cause.response is not None:
            return http_error(name, url, cause.response)
        if isinstance(cause, RequestException):
            return unreachable(name, url, cause)
    return None
