"""Paging `query_range` by time, and reading Loki's errors.

A forward query returns the `limit` oldest lines of [start, end). The next page starts at
the newest timestamp of this one (inclusive: lines sharing it may continue there; the
resource skips the ones it already read) until a page comes back short. A full page whose
lines all carry the timestamp it started at cannot move on: more lines share that
nanosecond than a page holds, so the run stops and says to raise `limit`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import HTTPError, Request, Response


def _error(message: str, retriable: bool = True):
    from . import LokiError  # the package defines it; imported late to avoid a cycle

    return LokiError(message, retriable=retriable)


class LokiTimePaginator(BasePaginator):
    def __init__(self, start_ns: int, end_ns: int, limit: int, where: str) -> None:
        super().__init__()
        self.start_ns, self.end_ns, self.limit, self.where = start_ns, end_ns, limit, where
        self.pages = 0

    def init_request(self, request: Request) -> None:
        request.params.update(start=str(self.start_ns), end=str(self.end_ns), limit=str(self.limit))

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        self.pages += 1
        stamps = [int(ts) for stream in data or [] for ts, *_ in stream.get("values") or []]
        if len(stamps) < self.limit:
            self._has_next_page = False
            return
        newest = max(stamps)
        if newest >= self.end_ns:  # only a server that answers past the range gets here
            self._has_next_page = False
            return
        if newest < self.start_ns:
            raise _error(f"{self.where}: Loki answered a page of lines before the start asked "
                         f"for ({newest} < {self.start_ns} ns); nothing of this run was saved")
        if newest == self.start_ns:  # a full page that cannot move the start on
            raise _error(
                f"{self.where}: {len(stamps):,} lines share the timestamp {newest} ns, a whole "
                f"page of limit={self.limit}: the next page cannot start after them without "
                "skipping the rest. Raise SOURCES__LOKI__LIMIT (up to the server's "
                "max_entries_limit_per_query) and run again; nothing of this run was saved",
                retriable=False)
        self.start_ns = newest

    def update_request(self, request: Request) -> None:
        request.params["start"] = str(self.start_ns)


def _decode(response: Response) -> Any:
    """The body as `response.json()` reads it, with orjson (several times faster on a page
    of 5,000 lines); what orjson refuses and `json` takes (NaN, lone surrogates) is read
    by `json` as before."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.json()


def check_response(where: str) -> Callable[..., None]:
    """A response hook, run on every attempt: Loki's refusals (400, 401, 403) end the run
    with what Loki said and what to do; other errors are raised as HTTPError, which dlt
    retries (429 and 5xx) and the resource reports after the last attempt."""

    def check(response: Response, *args: Any, **kwargs: Any) -> None:
        status = response.status_code
        said = response.text.strip()[:500]
        if status == 400:
            hint = ("lower SOURCES__LOKI__LIMIT to the server's max_entries_limit_per_query"
                    if "max entries limit" in said else
                    "lower SOURCES__LOKI__WINDOW_HOURS below the server's max_query_length"
                    if "time range exceeds" in said else
                    "fix the LogQL stream selector in SOURCES__LOKI__QUERY")
            raise _error(f"Loki refused {where} (400): {said}. {hint}", retriable=False)
        if status in (401, 403):
            raise _error(f"Loki refused {where} ({status}: {said}): check the credentials "
                         "(SOURCES__LOKI__USERNAME/PASSWORD or BEARER_TOKEN) and "
                         "SOURCES__LOKI__TENANT_ID", retriable=False)
        if status != 200:  # 429, 5xx: dlt retries an HTTPError with backoff, then raises it
            raise HTTPError(f"HTTP {status}: {said}", response=response)
        try:
            body = _decode(response)
        except ValueError:
            raise _error(f"Loki answered {where} with a body that is not JSON: "
                         f"{said[:200]!r}") from None
        # dlt's paginate reads the body again for data.result: decoded once, here
        response.json = lambda **_: body
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or body.get("status") != "success":
            raise _error(f"Loki's answer to {where} is not a success: {said[:200]!r}")
        if data.get("resultType") != "streams":
            raise _error(f"{where} returned {data.get('resultType')!r}, not log streams: the "
                         "query must be a log query (a stream selector with optional line "
                         "filters), not a metric query", retriable=False)

    return check
