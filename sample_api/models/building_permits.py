"""Building Permits (ydr8-5enu): one row per issued permit.

The event is the issue date; the application started `processing_time` days
earlier (a type-specific log-normal: easy permits in a day or two, new
construction in months). Fees follow the reported cost, as the city's do.
"""

from __future__ import annotations

from typing import Any

from ..rows import RowModel
from ..soql import FLOATING_TS, LOCATION, NUMBER, Schema
from .common import DAY_MS, Draws, Weighted, floating, number_text
from .geo import Placement, human_address, place, point_columns, street

COLUMNS = (
    "id", "permit_", "permit_type", "review_type", "application_start_date", "issue_date",
    "processing_time", "street_number", "street_direction", "street_name", "work_description",
    "total_fee", "reported_cost", "community_area", "ward", "xcoordinate", "ycoordinate",
    "latitude", "longitude", "location",
)

# (permit type, weight, review types, median days to issue, sigma, median cost $, works)
PERMIT_TYPES: tuple[tuple[str, float, tuple[str, ...], float, float, float, tuple[str, ...]], ...] = (
    ("PERMIT - EASY PERMIT PROCESS", 30, ("EASY PERMIT WEB", "EASY PERMIT"), 1.5, 0.6, 6_000,
     ("REPLACE 12 WINDOWS IN KIND, NO STRUCTURAL WORK", "TEAR OFF AND REROOF, SAME MATERIAL",
      "REPAIR REAR OPEN WOOD PORCH AS PER CITY STANDARD PLANS", "MASONRY REPAIR AND TUCKPOINTING")),
    ("PERMIT - ELECTRIC WIRING", 25, ("ELECTRICAL WIRING",), 2, 0.8, 3_500,
     ("INSTALL 100 AMP SERVICE AND 1 METER", "UPGRADE TO 200 AMP SERVICE",
      "ELECTRICAL WORK FOR KITCHEN AND BATH REMODEL", "INSTALL LOW VOLTAGE FIRE ALARM SYSTEM")),
    ("PERMIT - RENOVATION/ALTERATION", 20,
     ("STANDARD PLAN REVIEW", "SELF CERT", "EXPRESS PERMIT PROGRAM"), 35, 0.9, 60_000,
     ("INTERIOR RENOVATION OF EXISTING 2 DWELLING UNIT BUILDING",
      "KITCHEN AND BATHROOM REMODEL, NO STRUCTURAL CHANGES",
      "INTERIOR BUILD OUT FOR TENANT ON 2ND FLOOR OFFICE", "BASEMENT DUPLEX DOWN PER PLANS")),
    ("PERMIT - SIGNS", 7, ("SIGN PERMIT",), 15, 0.7, 5_000,
     ("INSTALL ONE ILLUMINATED WALL SIGN", "ERECT ONE NON-ILLUMINATED AWNING SIGN")),
    ("PERMIT - NEW CONSTRUCTION", 6, ("STANDARD PLAN REVIEW", "DIRECT DEVELOPER SERVICES"), 90, 0.7,
     650_000,
     ("ERECT A 3-STORY MASONRY RESIDENTIAL BUILDING WITH 6 DWELLING UNITS",
      "ERECT A 2-STORY SINGLE FAMILY RESIDENCE WITH DETACHED 2-CAR GARAGE",
      "NEW 5-STORY MIXED USE BUILDING WITH RETAIL AT GRADE")),
    ("PERMIT - WRECKING/DEMOLITION", 4, ("WRECKING/DEMOLITION",), 20, 0.6, 25_000,
     ("WRECK AND REMOVE A 2-STORY FRAME RESIDENTIAL BUILDING", "WRECK AND REMOVE DETACHED GARAGE")),
    ("PERMIT - SCAFFOLDING", 4, ("SCAFFOLDING",), 3, 0.5, 8_000,
     ("ERECT SWING STAGE SCAFFOLD FOR FACADE REPAIR", "ERECT SIDEWALK CANOPY")),
    ("PERMIT - ELEVATOR EQUIPMENT", 2, ("ELEVATOR EQUIPMENT",), 25, 0.6, 90_000,
     ("MODERNIZE 2 TRACTION PASSENGER ELEVATORS",)),
    ("PERMIT - PORCH CONSTRUCTION", 2, ("STANDARD PLAN REVIEW",), 20, 0.6, 25_000,
     ("REPLACE REAR 3-STORY WOOD PORCH PER PLANS",)),
)
_TYPES = Weighted([(t, t[1]) for t in PERMIT_TYPES])
P_NO_COST = 0.05


class BuildingPermitsModel(RowModel):
    """Row model of ydr8-5enu."""

    dataset_id = "ydr8-5enu"
    name = "building_permits"
    title = "Building Permits"
    schema = Schema(COLUMNS, {
        "id": NUMBER, "application_start_date": FLOATING_TS, "issue_date": FLOATING_TS,
        "processing_time": NUMBER, "street_number": NUMBER, "total_fee": NUMBER,
        "reported_cost": NUMBER, "community_area": NUMBER, "ward": NUMBER, "xcoordinate": NUMBER,
        "ycoordinate": NUMBER, "latitude": NUMBER, "longitude": NUMBER, "location": LOCATION,
    })
    key = "id"
    first_row = 3_000_001
    start, end = "2021-01-01", "2026-11-01"

    def placement(self, seed: int, row_number: int) -> Placement:
        return place(self.name, seed, row_number)

    def base_row(self, seed: int, row_number: int, event_ms: int,
                 placement: Placement | None = None) -> dict[str, Any]:
        d = Draws(self.name, seed, row_number)
        permit_type, _, reviews, median_days, sigma, median_cost, works = _TYPES.pick(d)
        issued = event_ms // DAY_MS * DAY_MS  # the portal's permit dates are days
        days = max(1, round(d.lognormal(median_days, sigma)))
        cost = round(d.lognormal(median_cost, 1.0), -2 if median_cost > 10_000 else 0)
        # Fees: a base plus a share of the cost, with cents from the city's fee tables.
        fee = 50 + cost * 0.012 + d.below(100) / 4
        pl = placement or self.placement(seed, row_number)
        number, direction, street_name = street(pl.lat, pl.lon, d)
        row: dict[str, Any] = {
            "id": str(row_number),
            "permit_": str(100_000_000 + row_number),
            "permit_type": permit_type,
            "review_type": d.choice(reviews),
            "application_start_date": floating(issued - days * DAY_MS),
            "issue_date": floating(issued),
            "processing_time": str(days),
            "street_number": number,
            "street_direction": direction,
            "street_name": street_name,
            "work_description": d.choice(works),
            "total_fee": number_text(fee),
            "reported_cost": "0" if d.chance(P_NO_COST) else number_text(cost),
            "ward": str(d.between(1, 50)),
        }
        if pl.served_area is not None:
            row["community_area"] = str(pl.served_area)
        address = human_address(f"{number} {direction} {street_name}", pl.zip)
        row.update(point_columns(pl, xy=("xcoordinate", "ycoordinate"), location="location",
                                 human_address=address))
        return row

    def revise(self, row: dict[str, Any], seed: int, row_number: int, version: int) -> None:
        """A later correction: the fee is recalculated or the description amended."""
        d = Draws(self.name, seed, row_number, version)
        if d.chance(0.5):
            row["total_fee"] = number_text(float(row.get("total_fee", "50")) + 25 + d.below(400))
        else:
            work = str(row.get("work_description", "")).removesuffix(" (REVISED)")
            row["work_description"] = f"{work} (REVISED)"
