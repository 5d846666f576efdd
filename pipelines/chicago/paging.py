"""Keyset paging for Socrata: page after the last (:updated_at, :id) instead of $offset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from .helpers import NOTHING_LOST, SocrataError


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _last_position(rows: list[Any], dataset: str) -> tuple[str, str]:
    """(:updated_at, :id) of the page's last row that has both, to page on from.

    A row without them is rejected downstream (arrow.py); when it closes the page, the
    next page starts after the row before it and serves it once more, which costs a
    duplicate line in the rejects table, never a skipped row.
    """
    for row in reversed(rows):
        if isinstance(row, dict) and _stamp(row.get(":updated_at")) and isinstance(row.get(":id"), str):
            return row[":updated_at"], row[":id"]
    raise SocrataError(
        f"dataset {dataset}: none of the {len(rows)} rows of a full page carries both "
        ":updated_at and :id, so there is no position to page on from: the portal (or a proxy) "
        f"dropped its system fields. {NOTHING_LOST}", retriable=False)


def _stamp(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


class SocrataKeysetPaginator(BasePaginator):
    """Asks for the rows after the last one seen, in `$order=:updated_at,:id`.

    `$offset` paging loses rows on a live dataset: when the portal revises a row already
    read, that row moves to the end and every later row shifts left by one, so the next
    offset skips one. A keyset ("after this row") cannot skip; deep pages also stay fast,
    where Socrata slows down with large offsets. Needs `:updated_at` and `:id` in
    `$select` (`:*,*` selects them).
    """

    def __init__(self, limit: int, dataset: str = "of the chicago source") -> None:
        super().__init__()
        self.limit = limit
        self.dataset = dataset  # "<name> (<id>)", for errors
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
        self._after = _last_position(data, self.dataset)

    def update_request(self, request: Request) -> None:
        if not self._has_next_page or self._after is None:
            return
        stamp, row = map(_literal, self._after)
        after = f"(:updated_at > {stamp} or (:updated_at = {stamp} and :id > {row}))"
        request.params["$where"] = f"({self._where}) and {after}" if self._where else after
