"""Food Inspections (4ijn-s7e5): one row per inspection of an establishment.

Rows share establishments (name, license, facility type, risk, address and point
are the establishment's), so re-inspections and per-establishment histories exist.
Results depend on the facility type (schools pass more often than groceries), and
violations are the portal's long " | "-separated text, absent when nothing was found.
The real dataset has no community_area: enrichment must geocode it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..rows import RowModel
from ..soql import FLOATING_TS, LOCATION, NUMBER, Schema
from .common import DAY_MS, Draws, Weighted, floating
from .geo import Placement, human_address, place, point_columns, street

COLUMNS = (
    "inspection_id", "dba_name", "aka_name", "license_", "facility_type", "risk", "address", "city",
    "state", "zip", "inspection_date", "inspection_type", "results", "violations", "latitude",
    "longitude", "location",
)

RESULTS = ("Pass", "Pass w/ Conditions", "Fail", "Out of Business", "No Entry", "Not Ready")
# facility type -> (weight, risk weights 1/2/3, result weights in RESULTS order)
FACILITIES: dict[str, tuple[float, tuple[float, float, float], tuple[float, ...]]] = {
    "Restaurant": (60, (70, 25, 5), (48, 19, 20, 7, 4, 2)),
    "Grocery Store": (12, (20, 40, 40), (42, 14, 26, 11, 5, 2)),
    "School": (6, (90, 10, 0), (70, 16, 8, 1, 4, 1)),
    "Children's Services Facility": (3, (80, 20, 0), (66, 15, 12, 2, 4, 1)),
    "Daycare (2 - 6 Years)": (3, (60, 40, 0), (64, 16, 13, 2, 4, 1)),
    "Daycare Above and Under 2 Years": (2, (60, 40, 0), (63, 17, 13, 2, 4, 1)),
    "Bakery": (2, (40, 50, 10), (52, 17, 19, 6, 4, 2)),
    "Liquor": (1.5, (0, 10, 90), (58, 8, 14, 12, 6, 2)),
    "Long Term Care": (1, (95, 5, 0), (60, 22, 14, 1, 2, 1)),
    "Catering": (1, (80, 20, 0), (50, 20, 20, 4, 4, 2)),
    "Mobile Food Dispenser": (1, (30, 50, 20), (55, 15, 15, 5, 8, 2)),
    "Hospital": (0.5, (100, 0, 0), (65, 20, 12, 0, 2, 1)),
}
_FACILITIES = Weighted([(name, spec[0]) for name, spec in FACILITIES.items()])
_RISKS = {name: Weighted(list(zip(("Risk 1 (High)", "Risk 2 (Medium)", "Risk 3 (Low)"), spec[1],
                                  strict=True)))
          for name, spec in FACILITIES.items()}
_RESULTS = {name: Weighted(list(zip(RESULTS, spec[2], strict=True))) for name, spec in FACILITIES.items()}
_INSPECTION_TYPES = Weighted([
    ("Canvass", 50), ("License", 13), ("Canvass Re-Inspection", 11), ("Complaint", 9),
    ("License Re-Inspection", 5), ("Complaint Re-Inspection", 4), ("Short Form Complaint", 4),
    ("Suspected Food Poisoning", 1), ("Consultation", 1), ("Tag Removal", 0.5),
    ("Recent Inspection", 0.5),
])
CHAINS = ("SUBWAY", "MCDONALD'S", "DUNKIN DONUTS", "STARBUCKS COFFEE", "JIMMY JOHNS",
          "CHIPOTLE MEXICAN GRILL", "POTBELLY SANDWICH WORKS", "HAROLD'S CHICKEN SHACK",
          "PORTILLO'S HOT DOGS", "7-ELEVEN")
_FIRST = ("GOLDEN", "LUCKY", "LITTLE", "GREEN", "SUNRISE", "LOS", "EL", "BIG", "ROYAL", "HAPPY",
          "NEW", "OLD TOWN", "LAKEVIEW", "MIDWAY", "CITY")
_SECOND = {
    "Restaurant": ("DRAGON", "TAQUERIA", "PIZZA", "GRILL", "KITCHEN", "CAFE", "GYROS", "DINER",
                   "SUSHI", "BBQ"),
    "Grocery Store": ("FOOD MART", "GROCERY", "MINI MART", "FRESH MARKET", "FOODS"),
    "School": ("ELEMENTARY SCHOOL", "ACADEMY", "HIGH SCHOOL", "MIDDLE SCHOOL"),
    "Bakery": ("BAKERY", "PANADERIA", "DONUTS"),
    "Liquor": ("LIQUORS", "WINE & SPIRITS"),
}
_DEFAULT_SECOND = ("LEARNING CENTER", "CARE CENTER", "SERVICES", "KITCHEN")

VIOLATIONS: tuple[str, ...] = (
    "1. PERSON IN CHARGE PRESENT, DEMONSTRATES KNOWLEDGE, AND PERFORMS DUTIES",
    "2. CITY OF CHICAGO FOOD SERVICE SANITATION CERTIFICATE",
    "3. MANAGEMENT, FOOD EMPLOYEE AND CONDITIONAL EMPLOYEE; KNOWLEDGE, RESPONSIBILITIES AND REPORTING",
    "5. PROCEDURES FOR RESPONDING TO VOMITING AND DIARRHEAL EVENTS",
    "10. ADEQUATE HANDWASHING SINKS PROPERLY SUPPLIED AND ACCESSIBLE",
    "16. FOOD-CONTACT SURFACES: CLEANED & SANITIZED",
    "22. PROPER COLD HOLDING TEMPERATURES",
    "38. INSECTS, RODENTS, & ANIMALS NOT PRESENT",
    "47. FOOD & NON-FOOD CONTACT SURFACES CLEANABLE, PROPERLY DESIGNED, CONSTRUCTED & USED",
    "49. NON-FOOD/FOOD CONTACT SURFACES CLEAN",
    "51. PLUMBING INSTALLED; PROPER BACKFLOW DEVICES",
    "53. TOILET FACILITIES: PROPERLY CONSTRUCTED, SUPPLIED, & CLEANED",
    "55. PHYSICAL FACILITIES INSTALLED, MAINTAINED & CLEAN",
    "56. ADEQUATE VENTILATION & LIGHTING; DESIGNATED AREAS USED",
    "58. ALLERGEN TRAINING AS REQUIRED",
)
COMMENTS = (
    "OBSERVED NO HAND WASHING SIGNAGE AT HAND SINK IN REAR PREP AREA. INSTRUCTED TO PROVIDE.",
    "MUST CLEAN AND MAINTAIN FLOORS UNDER AND AROUND ALL COOKING EQUIPMENT.",
    "OBSERVED APPROX. 15 MICE DROPPINGS ON FLOOR ALONG WALL BASE IN STORAGE ROOM. "
    "INSTRUCTED TO REMOVE, CLEAN AND SANITIZE AFFECTED AREAS. PRIORITY VIOLATION 7-38-020(A).",
    "NO CERTIFIED FOOD MANAGER ON SITE WHILE TCS FOODS WERE BEING PREPARED. "
    "INSTRUCTED TO HAVE A CERTIFIED FOOD MANAGER ON SITE AT ALL TIMES.",
    "OBSERVED COLD HOLDING TEMPERATURE OF 47.0F FOR SHREDDED CHEESE IN PREP COOLER. "
    "PRODUCT DISCARDED. PRIORITY VIOLATION 7-38-005.",
    "MUST REPAIR WATER DAMAGED CEILING TILES IN DRY STORAGE AREA.",
    "OBSERVED NO EMPLOYEE HEALTH POLICY ON SITE. INSTRUCTED TO PROVIDE.",
    "MUST PROVIDE ALLERGEN TRAINING CERTIFICATES FOR ALL CERTIFIED FOOD MANAGERS.",
    "INSTRUCTED TO CLEAN INTERIOR OF ICE MACHINE AND MAINTAIN.",
    "OBSERVED LEAKING FAUCET AT THREE COMPARTMENT SINK. INSTRUCTED TO REPAIR.",
)
# violations listed per result: (fewest, most), and the chance a passing row lists none
_VIOLATION_COUNTS = {"Pass": (1, 4), "Pass w/ Conditions": (2, 6), "Fail": (3, 8)}
P_PASS_WITHOUT_VIOLATIONS = 0.4


def _name(facility: str, d: Draws) -> str:
    if facility in ("Restaurant", "Grocery Store") and d.chance(0.15):
        return d.choice(CHAINS if facility == "Restaurant" else CHAINS[-1:])
    return f"{d.choice(_FIRST)} {d.choice(_SECOND.get(facility, _DEFAULT_SECOND))}"


def _violations(result: str, d: Draws) -> str | None:
    if result not in _VIOLATION_COUNTS or result == "Pass" and d.chance(P_PASS_WITHOUT_VIOLATIONS):
        return None
    lo, hi = _VIOLATION_COUNTS[result]
    picked = sorted({d.below(len(VIOLATIONS)) for _ in range(d.between(lo, hi))})
    return " | ".join(f"{VIOLATIONS[i]} - Comments: {d.choice(COMMENTS)}" for i in picked)


class FoodInspectionsModel(RowModel):
    """Row model of 4ijn-s7e5; `establishments` is how many places the inspections visit."""

    dataset_id = "4ijn-s7e5"
    name = "food_inspections"
    title = "Food Inspections"
    schema = Schema(COLUMNS, {
        "inspection_id": NUMBER, "license_": NUMBER, "inspection_date": FLOATING_TS,
        "latitude": NUMBER, "longitude": NUMBER, "location": LOCATION,
    })
    key = "inspection_id"
    first_row = 2_500_001
    start, end = "2022-01-01", "2026-11-01"

    def __init__(self, establishments: int = 2_000) -> None:
        self.establishments = max(1, establishments)

    def establishment_of(self, seed: int, row_number: int) -> int:
        return Draws(f"{self.name}-visit", seed, row_number).below(self.establishments)

    def placement(self, seed: int, row_number: int) -> Placement:
        return place(self.name, seed, self.establishment_of(seed, row_number))

    @lru_cache(maxsize=1 << 14)  # noqa: B019 (models live as long as the process)
    def establishment(self, seed: int, number: int) -> dict[str, Any]:
        """The columns an establishment gives each of its inspections."""
        d = Draws(f"{self.name}-establishment", seed, number)
        facility = _FACILITIES.pick(d)
        dba = _name(facility, d)
        pl = place(self.name, seed, number)
        house, direction, street_name = street(pl.lat, pl.lon, d)
        address = f"{house} {direction} {street_name}"
        out: dict[str, Any] = {
            "dba_name": dba,
            "aka_name": dba if d.chance(0.85) else f"{dba} #{d.between(100, 9999)}",
            "license_": "0" if d.chance(0.005) else str(1_500_000 + number * 17 + seed % 17),
            "facility_type": facility,
            "risk": _RISKS[facility].pick(d),
            "address": address,
            "city": "CHICAGO",
            "state": "IL",
        }
        if d.chance(0.05):
            del out["aka_name"]
        if pl.zip is not None:
            out["zip"] = pl.zip
        out.update(point_columns(pl, location="location", human_address=human_address(address, pl.zip)))
        return out

    @staticmethod
    def _relocated(place_of: dict[str, Any], pl: Placement) -> dict[str, Any]:
        """An establishment's columns with its ZIP and point from `pl` instead."""
        out = {k: v for k, v in place_of.items()
               if k not in ("zip", "latitude", "longitude", "location")}
        if pl.zip is not None:
            out["zip"] = pl.zip
        out.update(point_columns(pl, location="location",
                                 human_address=human_address(out["address"], pl.zip)))
        return out

    def base_row(self, seed: int, row_number: int, event_ms: int,
                 placement: Placement | None = None) -> dict[str, Any]:
        d = Draws(self.name, seed, row_number)
        place_of = self.establishment(seed, self.establishment_of(seed, row_number))
        if placement is not None:  # moved: the establishment's point was corrected
            place_of = self._relocated(place_of, placement)
        result = _RESULTS[place_of["facility_type"]].pick(d)
        row: dict[str, Any] = {
            "inspection_id": str(row_number),
            **place_of,
            "inspection_date": floating(event_ms // DAY_MS * DAY_MS),
            "inspection_type": _INSPECTION_TYPES.pick(d),
            "results": result,
        }
        violations = _violations(result, d)
        if violations is not None:
            row["violations"] = violations
        # the establishment's location dict is shared: copy it before anyone can patch it
        if "location" in row:
            row["location"] = dict(row["location"])
        return {c: row[c] for c in COLUMNS if c in row}

    def revise(self, row: dict[str, Any], seed: int, row_number: int, version: int) -> None:
        """A corrected report: a pass is re-graded, or another result gets its type fixed."""
        d = Draws(self.name, seed, row_number, version)
        result = row.get("results")
        if result in ("Pass", "Pass w/ Conditions"):
            row["results"] = "Pass w/ Conditions" if result == "Pass" else "Pass"
        else:
            others = [t for t in _INSPECTION_TYPES.values if t != row.get("inspection_type")]
            row["inspection_type"] = d.choice(others)
