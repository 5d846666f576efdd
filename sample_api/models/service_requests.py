"""311 Service Requests (v6vf-nfxy): one row per request, closed after a type-specific delay.

A request's close is planned when it is created (a log-normal delay whose median
and spread depend on its type, so medians and p90s differ by type); it is only
served as Completed once the row's last modification has reached that close,
so `closed_date <= last_modified_date` always and recent requests are still Open.
"""

from __future__ import annotations

from typing import Any

from ..rows import RowModel
from ..soql import BOOLEAN, FLOATING_TS, INSTANT_LOCAL, NUMBER, POINT, Schema
from ..times import chicago_text, parse_floating
from .common import HOUR_MS, Draws, Weighted, at_time_of_day, floating
from .geo import Placement, place, point_columns, police_district, street

COLUMNS = (
    "sr_number", "sr_type", "sr_short_code", "owner_department", "status", "origin",
    "created_date", "last_modified_date", "closed_date", "street_address", "city", "state",
    "zip_code", "community_area", "ward", "police_district", "duplicate", "legacy_record",
    "parent_sr_number", "x_coordinate", "y_coordinate", "latitude", "longitude", "location",
)

# (type, short code, owner department, weight, median hours to close, log-normal sigma)
TYPES: tuple[tuple[str, str, str, float, float, float], ...] = (
    ("311 INFORMATION ONLY CALL", "311IOC", "311 City Services", 30, 0.05, 0.6),
    ("Aircraft Noise Complaint", "AVN", "Aviation", 9, 0.2, 0.8),
    ("Street Light Out Complaint", "SFD", "CDOT - Department of Transportation", 7, 96, 1.0),
    ("Graffiti Removal Request", "GRAF", "Streets and Sanitation", 7, 40, 0.9),
    ("Pothole in Street Complaint", "PHF", "CDOT - Department of Transportation", 6, 150, 1.1),
    ("Rodent Baiting/Rat Complaint", "SGA", "Streets and Sanitation", 6, 100, 0.9),
    ("Abandoned Vehicle Complaint", "SKA", "Streets and Sanitation", 5, 420, 0.8),
    ("Tree Trim Request", "SEE", "Streets and Sanitation", 4, 1400, 0.9),
    ("Garbage Cart Maintenance", "SIE", "Streets and Sanitation", 5, 120, 0.7),
    ("Weed Removal Request", "SCB", "Streets and Sanitation", 2, 250, 0.8),
    ("Water On Street Complaint", "WBK", "DWM - Department of Water Management", 3, 48, 1.2),
    ("Building Violation", "BBA", "DOB - Buildings", 2, 900, 1.0),
    ("Sanitation Code Violation", "SCQ", "Streets and Sanitation", 3, 160, 0.9),
)
_TYPES = Weighted([(t, t[3]) for t in TYPES])
_ORIGINS = Weighted([("Phone Call", 45), ("Internet", 25), ("Mobile Device", 28), ("E-Mail", 2)])
# Calls come in during the day: hours of the day and their weights.
_HOURS = Weighted([(h, w) for h, w in enumerate(
    (1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 10, 9, 9, 9, 8, 7, 6, 5, 4, 3, 2, 2, 1))])
P_CANCELED = 0.04
P_DUPLICATE = 0.03
_LEGACY_BEFORE = parse_floating("2018-12-18")  # the day the portal switched to the new 311 system


class ServiceRequestsModel(RowModel):
    """Row model of v6vf-nfxy."""

    dataset_id = "v6vf-nfxy"
    name = "service_requests"
    title = "311 Service Requests"
    schema = Schema(COLUMNS, {
        "created_date": FLOATING_TS, "last_modified_date": INSTANT_LOCAL, "closed_date": FLOATING_TS,
        "community_area": NUMBER, "ward": NUMBER, "police_district": NUMBER, "duplicate": BOOLEAN,
        "legacy_record": BOOLEAN, "x_coordinate": NUMBER, "y_coordinate": NUMBER, "latitude": NUMBER,
        "longitude": NUMBER, "location": POINT,
    })
    key = "sr_number"
    key_is_number = False
    updated_column = "last_modified_date"
    first_row = 1_000_001
    start, end = "2018-07-01", "2026-11-01"

    def key_text(self, row_number: int, event_ms: int) -> str:
        """"SR24-01234567": the year created, then a counter."""
        return f"SR{floating(event_ms)[2:4]}-{row_number % 100_000_000:08d}"

    def key_number(self, text: str) -> int | None:
        try:
            return int(text.rpartition("-")[2])
        except ValueError:
            return None

    def placement(self, seed: int, row_number: int) -> Placement:
        return place(self.name, seed, row_number)

    def base_row(self, seed: int, row_number: int, event_ms: int,
                 placement: Placement | None = None) -> dict[str, Any]:
        d = Draws(self.name, seed, row_number)
        sr_type, code, department, _, median_hours, sigma = _TYPES.pick(d)
        created = at_time_of_day(event_ms, _HOURS.pick(d) * HOUR_MS + d.below(HOUR_MS // 1000) * 1000)
        close_after = max(60_000, int(d.lognormal(median_hours, sigma) * HOUR_MS))
        pl = placement or self.placement(seed, row_number)
        number, direction, street_name = street(pl.lat, pl.lon, d)
        row: dict[str, Any] = {
            "sr_number": self.key_text(row_number, event_ms),
            "sr_type": sr_type,
            "sr_short_code": code,
            "owner_department": department,
            "status": "Canceled" if d.chance(P_CANCELED) else "Completed",  # finish() may reopen
            "origin": _ORIGINS.pick(d),
            "created_date": floating(created),
            "closed_date": floating(created + close_after),
            "street_address": f"{number} {direction} {street_name}",
            "city": "CHICAGO",
            "state": "IL",
            "ward": str(d.between(1, 50)),
            "police_district": str(police_district(pl.lat, pl.lon)),
            "duplicate": False,
            "legacy_record": created < _LEGACY_BEFORE,
        }
        if pl.zip is not None:
            row["zip_code"] = pl.zip
        if pl.served_area is not None:
            row["community_area"] = str(pl.served_area)
        if row_number > self.first_row and d.chance(P_DUPLICATE):
            row["duplicate"] = True
            row["parent_sr_number"] = self.key_text(row_number - d.between(1, 400), event_ms)
        row.update(point_columns(pl, xy=("x_coordinate", "y_coordinate")))
        return row

    def revise(self, row: dict[str, Any], seed: int, row_number: int, version: int) -> None:
        """A later touch: a duplicate is recognised, or the ward is corrected."""
        d = Draws(self.name, seed, row_number, version)
        if not row.get("duplicate") and d.chance(0.3):
            row["duplicate"] = True
        else:
            row["ward"] = str(d.between(1, 50))

    def finish(self, row: dict[str, Any], updated_ms: int) -> None:
        """Stamp last_modified_date; a close planned after it has not happened yet: Open."""
        row["last_modified_date"] = modified = chicago_text(updated_ms)
        closed = row.get("closed_date")
        if row.get("status") != "Completed" or (isinstance(closed, str) and closed > modified):
            row.pop("closed_date", None)
            if row.get("status") == "Completed":
                row["status"] = "Open"

