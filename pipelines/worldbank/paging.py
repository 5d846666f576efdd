"""Page-number paging for the World Bank API, whose page counts come as numbers or strings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response


@dataclass(frozen=True)
class PageMeta:
    """The first element of a World Bank page, `[meta, rows]`, with its numbers as ints."""

    page: int
    pages: int
    per_page: int
    total: int
    last_updated: date | None  # `lastupdated` of indicator pages; absent on the country list


def page_meta(body: Any) -> PageMeta:
    """The page metadata of a parsed `[meta, rows]` body.

    The indicator endpoints send numbers (`"page": 1`), the country list and metadata
    endpoints strings (`"page": "1"`, `"per_page": "50"`): both are read as ints. Raises
    ValueError when the body has no such metadata (the response hook checks that first).
    """
    if not isinstance(body, list) or not body or not isinstance(body[0], dict):
        raise ValueError(f"expected [meta, rows], got {str(body)[:200]}")
    meta = body[0]
    try:
        numbers = {key: int(meta[key]) for key in ("page", "pages", "per_page", "total")}
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"page metadata lacks a whole-number {err}: {str(meta)[:200]}") from None
    stamp = meta.get("lastupdated")
    return PageMeta(**numbers, last_updated=date.fromisoformat(stamp) if stamp else None)


class WorldBankPaginator(BasePaginator):
    """Asks for `page=1, 2, ...` until the page the metadata says is the last.

    dlt's PageNumberPaginator reads a total from one JSON path and stops after an empty
    page; here the page number and the page count both sit in `meta` (`body[0]`) and may
    be strings, and asking past the last page costs a request that returns `[meta, null]`.
    So this reads `page` and `pages` from each answer and stops on the last page, or on a
    page without rows, without another request.
    """

    def __init__(self, per_page: int) -> None:
        super().__init__()
        if per_page < 1:
            raise ValueError(f"per_page must be at least 1, not {per_page}")
        self.per_page = per_page
        self.page = 1

    def init_request(self, request: Request) -> None:
        self._has_next_page = True
        self.page = 1
        request.params["per_page"] = self.per_page
        request.params["page"] = self.page

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        meta = page_meta(response.json())
        if not data or meta.page >= meta.pages:
            self._has_next_page = False
            return
        self.page = meta.page + 1

    def update_request(self, request: Request) -> None:
        request.params["page"] = self.page

    def __str__(self) -> str:
        return f"{type(self).__name__}(per_page={self.per_page}, page={self.page})"
