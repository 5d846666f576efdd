"""Synthetic Chicago crime rows: a pure function of (seed, id, version).

Nothing here keeps per-row state; `CrimesDataset` stores only ids, versions and
timestamps and calls `base_row` / `revise` to render a row when it is served.
Reference tables are a small, hand-picked subset of real Chicago codes so the
rows look like the portal's and the dbt models have realistic values to group.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Iterator
from hashlib import blake2b
from itertools import accumulate, chain
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models.geo import Placement

# (primary_type, description, iucr, fbi_code, weight): weights are roughly the
# per-mille frequencies seen in the real feed (theft/battery common, homicide rare).
OFFENSES: tuple[tuple[str, str, str, str, int], ...] = (
    ("THEFT", "$500 AND UNDER", "0820", "06", 80),
    ("THEFT", "OVER $500", "0810", "06", 60),
    ("THEFT", "RETAIL THEFT", "0860", "06", 30),
    ("THEFT", "FROM BUILDING", "0890", "06", 30),
    ("THEFT", "POCKET-PICKING", "0870", "06", 8),
    ("BATTERY", "DOMESTIC BATTERY SIMPLE", "0486", "08B", 100),
    ("BATTERY", "SIMPLE", "0460", "08B", 65),
    ("BATTERY", "AGGRAVATED - HANDGUN", "041A", "04B", 10),
    ("BATTERY", "AGGRAVATED - KNIFE / CUTTING INSTRUMENT", "0420", "04B", 5),
    ("CRIMINAL DAMAGE", "TO PROPERTY", "1310", "14", 65),
    ("CRIMINAL DAMAGE", "TO VEHICLE", "1320", "14", 60),
    ("ASSAULT", "SIMPLE", "0560", "08A", 55),
    ("ASSAULT", "AGGRAVATED - HANDGUN", "051A", "04A", 16),
    ("MOTOR VEHICLE THEFT", "AUTOMOBILE", "0910", "07", 48),
    ("MOTOR VEHICLE THEFT", "THEFT / RECOVERY - AUTOMOBILE", "0930", "07", 5),
    ("DECEPTIVE PRACTICE", "CREDIT CARD FRAUD", "1150", "11", 14),
    ("DECEPTIVE PRACTICE", "FINANCIAL IDENTITY THEFT OVER $ 300", "1153", "11", 7),
    ("DECEPTIVE PRACTICE", "FORGERY", "1120", "10", 2),
    ("BURGLARY", "FORCIBLE ENTRY", "0610", "05", 19),
    ("BURGLARY", "UNLAWFUL ENTRY", "0620", "05", 10),
    ("ROBBERY", "ARMED - HANDGUN", "031A", "03", 15),
    ("ROBBERY", "STRONG ARM - NO WEAPON", "0320", "03", 9),
    ("WEAPONS VIOLATION", "UNLAWFUL POSSESSION - HANDGUN", "143A", "15", 25),
    ("OTHER OFFENSE", "HARASSMENT BY TELEPHONE", "2825", "26", 10),
    ("OTHER OFFENSE", "TELEPHONE THREAT", "2820", "26", 12),
    ("CRIMINAL TRESPASS", "TO LAND", "1330", "26", 11),
    ("NARCOTICS", "POSS: COCAINE", "2022", "18", 6),
    ("NARCOTICS", "POSSESS - HEROIN (WHITE)", "2024", "18", 7),
    ("CRIMINAL SEXUAL ASSAULT", "NON-AGGRAVATED", "0281", "02", 8),
    ("PROSTITUTION", "SOLICIT ON PUBLIC WAY", "1506", "16", 4),
    ("PUBLIC PEACE VIOLATION", "RECKLESS CONDUCT", "0470", "24", 4),
    ("OFFENSE INVOLVING CHILDREN", "OTHER OFFENSE", "1780", "20", 3),
    ("SEX OFFENSE", "PUBLIC INDECENCY", "1570", "17", 2),
    ("ARSON", "BY FIRE", "1025", "09", 2),
    ("GAMBLING", "GAME/DICE", "1661", "19", 1),
    ("LIQUOR LAW VIOLATION", "SELL/GIVE/DEL LIQUOR TO MINOR", "2210", "22", 1),
    ("INTERFERENCE WITH PUBLIC OFFICER", "RESIST / OBSTRUCT / DISARM OFFICER", "4310", "24", 2),
    ("STALKING", "SIMPLE", "0580", "08A", 2),
    ("HOMICIDE", "FIRST DEGREE MURDER", "0110", "01A", 1),
    ("HOMICIDE", "INVOLUNTARY MANSLAUGHTER", "0142", "01B", 1),
    ("KIDNAPPING", "CHILD ABDUCTION/STRANGER", "1792", "20", 1),
    ("INTIMIDATION", "INTIMIDATION", "3960", "26", 1),
    ("CRIMINAL DAMAGE", "CRIMINAL DEFACEMENT", "1305", "14", 3),
    ("DECEPTIVE PRACTICE", "EMBEZZLEMENT", "1210", "12", 1),
    ("DECEPTIVE PRACTICE", "STOLEN PROPERTY BUY / RECEIVE / POSSESS", "1140", "13", 1),
)
_OFFENSE_CUM = list(accumulate(o[4] for o in OFFENSES))

# A global arrest rate keeps the aggregate near the real ~20%. Domestic battery
# rows (~10%) are always domestic, so the extra rate lands the total near 17%.
ARREST_RATE = 0.20
DOMESTIC_RATE = 0.08

LOCATIONS: tuple[tuple[str, int], ...] = (
    ("STREET", 26), ("APARTMENT", 20), ("RESIDENCE", 14), ("SIDEWALK", 7),
    ("PARKING LOT / GARAGE (NON RESIDENTIAL)", 4), ("ALLEY", 3), ("RESTAURANT", 3),
    ("SMALL RETAIL STORE", 2), ("DEPARTMENT STORE", 2), ("BAR OR TAVERN", 1),
    ("RESIDENCE - GARAGE", 1), ("GAS STATION", 1), ("VEHICLE NON-COMMERCIAL", 2),
    ("GROCERY FOOD STORE", 1), ("OTHER (SPECIFY)", 1), ("COMMERCIAL / BUSINESS OFFICE", 1),
    ("RESIDENCE - PORCH / HALLWAY", 1), ("HOTEL / MOTEL", 1), ("CTA TRAIN", 1),
    ("PARK PROPERTY", 1), ("CHA APARTMENT", 1), ("SCHOOL - PUBLIC BUILDING", 1),
)
_LOCATION_CUM = list(accumulate(w for _, w in LOCATIONS))

# Police districts (13, 21 and 23 were dissolved) with approximate centroids: a row's
# district is the one nearest its point, so beat/district and coordinates agree roughly.
DISTRICTS: tuple[tuple[int, float, float], ...] = (
    (1, 41.880, -87.630), (2, 41.805, -87.615), (3, 41.770, -87.595), (4, 41.720, -87.560),
    (5, 41.685, -87.615), (6, 41.745, -87.645), (7, 41.778, -87.660), (8, 41.775, -87.725),
    (9, 41.825, -87.670), (10, 41.850, -87.710), (11, 41.878, -87.722), (12, 41.870, -87.665),
    (14, 41.918, -87.700), (15, 41.890, -87.763), (16, 41.970, -87.800), (17, 41.962, -87.720),
    (18, 41.900, -87.632), (19, 41.942, -87.660), (20, 41.978, -87.670), (22, 41.700, -87.672),
    (24, 42.005, -87.672), (25, 41.920, -87.760),
)
NS_STREETS = ("STATE ST", "HALSTED ST", "ASHLAND AVE", "WESTERN AVE", "CICERO AVE", "PULASKI RD",
              "KEDZIE AVE", "DAMEN AVE", "CLARK ST", "MICHIGAN AVE", "COTTAGE GROVE AVE",
              "RACINE AVE", "WOLCOTT AVE", "ARTESIAN AVE", "CALIFORNIA AVE", "BROADWAY")
EW_STREETS = ("CERMAK RD", "MADISON ST", "CHICAGO AVE", "NORTH AVE", "63RD ST", "79TH ST",
              "87TH ST", "47TH ST", "DIVISION ST", "FULLERTON AVE", "BELMONT AVE",
              "LAWRENCE AVE", "IRVING PARK RD", "ROOSEVELT RD", "GARFIELD BLVD", "CERMAK RD")

# Linear fit of Illinois East state plane (feet) around the Loop: good to a few
# hundred feet inside the city, which is all a plausibility check needs.
_X0, _Y0, _LAT0, _LON0 = 1176338, 1889777, 41.852904198, -87.628264394
_FT_PER_DEG_LAT, _FT_PER_DEG_LON = 364_280.0, 271_300.0

HUMAN_ADDRESS = json.dumps({"address": "", "city": "", "state": "", "zip": ""})

# Fraction of rows with the field missing (key omitted, as the portal does). Which rows
# lack coordinates is the placement's to say (models.geo.P_NO_COORDINATES, 4%).
P_NO_COMMUNITY = 0.01
P_NO_WARD = 0.005
P_NO_LOCATION_DESC = 0.005

COLUMNS: tuple[str, ...] = (
    "id", "case_number", "date", "block", "iucr", "primary_type", "description",
    "location_description", "arrest", "domestic", "beat", "district", "ward",
    "community_area", "fbi_code", "x_coordinate", "y_coordinate", "year", "updated_on",
    "latitude", "longitude", "location",
)


_INV24 = 1 / 16_777_216
_SHIFTS = tuple(range(0, 504, 24))  # 21 draws of 24 bits from a 512-bit digest


def _draws(key: bytes, block: int) -> list[float]:
    digest = blake2b(key, digest_size=64, salt=block.to_bytes(16, "little")).digest()
    bits = int.from_bytes(digest, "little")
    return [((bits >> s) & 0xFFFFFF) * _INV24 for s in _SHIFTS]


def _more(key: bytes) -> Iterator[float]:
    block = 1
    while True:
        yield from _draws(key, block)
        block += 1


class RowRandom:
    """Uniform draws in [0, 1) from BLAKE2b digests of (stream, seed, id, version).

    Seeding `random.Random` costs ~4 us per row, which dominated rendering a
    50k-row page; one digest yields 21 draws (more blocks on demand) and is
    stable across processes and Python versions. `stream` keeps datasets (and
    independent aspects of one row) from drawing the same numbers; crimes use "".
    """

    __slots__ = ("random",)

    def __init__(self, seed: int, row_id: int, version: int, stream: str = "") -> None:
        key = f"{stream}{seed}:{row_id}:{version}".encode()
        self.random: Callable[[], float] = chain(_draws(key, 0), _more(key)).__next__


def row_rng(seed: int, row_id: int, version: int) -> RowRandom:
    return RowRandom(seed, row_id, version)


def _num(value: float) -> str:
    """Socrata prints coordinates with up to 9 decimals, trailing zeros dropped."""
    return f"{value:.9f}".rstrip("0").rstrip(".")


def _below(k: int, r: RowRandom) -> int:
    return int(r.random() * k)


def _pick(cum: list[int], r: RowRandom) -> int:
    return bisect_right(cum, r.random() * cum[-1])


def case_number(row_id: int, year: int, r: RowRandom) -> str:
    # Real numbers run HA.. (2001-2015) then JA.. (2016 on), one letter per year-ish.
    first, second = ("H", (year - 2001) % 26) if year < 2016 else ("J", (year - 2016) % 26)
    return f"{first}{chr(65 + second)}{(row_id * 7919 + _below(1000, r)) % 1_000_000:06d}"


def nearest_district(lat: float, lon: float) -> int:
    """The police district whose (approximate) centroid is nearest the point."""
    return min(DISTRICTS, key=lambda d: (d[1] - lat) ** 2 + ((d[2] - lon) * 0.75) ** 2)[0]


def base_row(seed: int, row_id: int, date_text: str, placement: Placement) -> dict[str, object]:
    """Version 0 of a row, without `updated_on` (it comes from the row's stamp).

    `placement` (`models.geo.place("crimes", seed, row_id)`) is where the crime
    happened, drawn from its own stream like every other dataset's rows: the
    coordinates, the block and district near them and the community_area
    (`served_area`, which disagrees with the point for ~2% of rows) all follow
    it, and revisions never move it. The draws that used to place the row are
    still taken, so every other field keeps the value it had before.
    """
    r = row_rng(seed, row_id, 0)
    ptype, desc, iucr, fbi, _ = OFFENSES[_pick(_OFFENSE_CUM, r)]
    r.random(), r.random(), r.random()  # formerly the district and the point around it
    lat, lon = placement.lat, placement.lon
    district = nearest_district(lat, lon)
    year = int(date_text[:4])
    if r.random() < 0.5:  # a north/south street: hundreds count from Madison
        street = NS_STREETS[_below(len(NS_STREETS), r)]
        direction = "S" if lat < 41.882 else "N"
        hundreds = int(abs(lat - 41.882) * 552)
    else:  # an east/west street: hundreds count from State
        street = EW_STREETS[_below(len(EW_STREETS), r)]
        direction = "W" if lon < -87.6278 else "E"
        hundreds = int(abs(lon + 87.6278) * 411)
    block = f"{'0000X' if hundreds == 0 else f'{hundreds:03d}XX'} {direction} {street}"
    domestic = r.random() < DOMESTIC_RATE or ptype == "BATTERY" and desc.startswith("DOMESTIC")
    row: dict[str, object] = {
        "id": str(row_id),
        "case_number": case_number(row_id, year, r),
        "date": date_text,
        "block": block,
        "iucr": iucr,
        "primary_type": ptype,
        "description": desc,
        "location_description": LOCATIONS[_pick(_LOCATION_CUM, r)][0],
        "arrest": r.random() < ARREST_RATE,
        "domestic": domestic,
        "beat": f"{district:02d}{1 + _below(3, r)}{1 + _below(4, r)}",
        "district": f"{district:03d}",
        "ward": str(1 + _below(50, r)),
        "community_area": str(placement.served_area),
        "fbi_code": fbi,
        "year": str(year),
    }
    r.random()  # formerly the community area
    if r.random() < P_NO_LOCATION_DESC:
        del row["location_description"]
    if r.random() < P_NO_WARD:
        del row["ward"]
    # A row may lack its area, but never one planted to disagree with its point:
    # community_area_mismatches() lists exactly the rows that do disagree.
    no_area = r.random() < P_NO_COMMUNITY and placement.served_area == placement.area
    if no_area or placement.served_area is None:
        del row["community_area"]
    r.random()  # formerly whether the row has coordinates (the placement says)
    if placement.has_coordinates:
        lat_s, lon_s = _num(lat), _num(lon)
        row["x_coordinate"] = str(round(_X0 + (lon - _LON0) * _FT_PER_DEG_LON))
        row["y_coordinate"] = str(round(_Y0 + (lat - _LAT0) * _FT_PER_DEG_LAT))
        row["latitude"] = lat_s
        row["longitude"] = lon_s
        row["location"] = {"latitude": lat_s, "longitude": lon_s, "human_address": HUMAN_ADDRESS}
    return row


def revise(row: dict[str, object], seed: int, row_id: int, version: int) -> None:
    """Apply the edit that produced `version` (>= 1) in place.

    Edits mirror what CPD revisions do: an arrest gets recorded, an offense is
    reclassified within its primary type, a location is corrected. At least one
    field always changes so tests can tell versions apart.
    """
    r = row_rng(seed, row_id, version)
    changed = False
    if r.random() < 0.3:
        ptype = row.get("primary_type")
        options = [o for o in OFFENSES if o[0] == ptype and o[1] != row.get("description")]
        if options:
            _, desc, iucr, fbi, _ = options[_below(len(options), r)]
            row.update(description=desc, iucr=iucr, fbi_code=fbi)
            changed = True
    if r.random() < 0.35:
        current = row.get("location_description")
        options = [name for name, _ in LOCATIONS if name != current]
        row["location_description"] = options[_below(len(options), r)]
        changed = True
    if not changed or r.random() < 0.5:
        row["arrest"] = not row.get("arrest", False)
