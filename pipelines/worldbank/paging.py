"""Page-number paging for the World Bank API, whose page counts come as numbers or strings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator


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


# A cap no real indicator comes near (about 17 pages of 1,000 values): an answer whose page
# count is larger fails the run before a second page is asked (helpers.check_progress), and
# the paginator never asks past it whatever the answers say.
MAX_PAGES = 1_000


def world_bank_paginator(max_pages: int = MAX_PAGES) -> PageNumberPaginator:
    """dlt's PageNumberPaginator, set for `[meta, rows]` pages: `page=1, 2, ...` up to the
    page count in `meta.pages` (`body[0]`, a number or a string), or a page without rows
    (`[meta, null]`), or `max_pages`; the last page costs no extra request."""
    return PageNumberPaginator(base_page=1, page=1, total_path="[0].pages",
                               maximum_page=max_pages + 1)
