"""Keyset paging for Socrata: page after the last (:updated_at, :id) instead of $offset."""

from __future__ import annotations

from typing import Any

from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class SocrataKeysetPaginator(BasePaginator):
    """Asks for the rows after the last one seen, in `$order=:updated_at,:id`.

    `$offset` paging loses rows on a live dataset: when the portal revises a row already
    read, that row moves to the end and every later row shifts left by one, so the next
    offset skips one. A keyset ("after this row") cannot skip; deep pages also stay fast,
    where Socrata slows down with large offsets. Needs `:updated_at` and `:id` in
    `$select` (`:*,*` selects them).
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._where: str | None = None
        self._after: tuple[str, str] | None = None

    def init_request(self, request: Request) -> None:
        self._has_next_page = True
        self._after = None
        self._where = request.params.get("$where")  # the cursor's filter, kept on every page
        request.params["$limit"] = self.limit

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        # A short page is the last one: no extra request for an empty page.
        if not data or len(data) < self.limit:
            self._has_next_page = False
            return
        last = data[-1]
        self._after = (last[":updated_at"], last[":id"])

    def update_request(self, request: Request) -> None:
        if not self._has_next_page or self._after is None:
            return
        stamp, row = map(_literal, self._after)
        after = f"(:updated_at > {stamp} or (:updated_at = {stamp} and :id > {row}))"
        request.params["$where"] = f"({self._where}) and {after}" if self._where else after
