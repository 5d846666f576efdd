"""Traffic Crashes - Crashes (85ca-t3if): one row per crash, injuries consistent with each other.

`injuries_total` is the sum of the fatal, incapacitating and non-incapacitating
counts, and `most_severe_injury` names the worst non-zero one; crash_hour,
crash_day_of_week (1 = Sunday, like the portal) and crash_month follow crash_date.
The real dataset has no community_area: enrichment must geocode it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from hashlib import blake2b
from typing import Any

from ..rows import RowModel
from ..soql import FLOATING_TS, NUMBER, POINT, Schema
from .common import HOUR_MS, Draws, Weighted, at_time_of_day, floating
from .geo import Placement, place, point_columns, police_district, street

COLUMNS = (
    "crash_record_id", "crash_date", "date_police_notified", "posted_speed_limit",
    "traffic_control_device", "weather_condition", "lighting_condition", "first_crash_type",
    "trafficway_type", "crash_type", "damage", "prim_contributory_cause", "street_no",
    "street_direction", "street_name", "beat_of_occurrence", "hit_and_run_i", "num_units",
    "most_severe_injury", "injuries_total", "injuries_fatal", "injuries_incapacitating",
    "injuries_non_incapacitating", "crash_hour", "crash_day_of_week", "crash_month", "latitude",
    "longitude", "location",
)

_SPEED = Weighted([("30", 74), ("35", 7), ("25", 6), ("20", 4), ("15", 3), ("10", 2), ("45", 2),
                   ("40", 1), ("0", 1)])
_CONTROL = Weighted([("NO CONTROLS", 56), ("TRAFFIC SIGNAL", 28), ("STOP SIGN/FLASHER", 10),
                     ("UNKNOWN", 4), ("OTHER", 1), ("YIELD", 0.5), ("LANE USE MARKING", 0.5)])
_WEATHER = Weighted([("CLEAR", 78), ("RAIN", 9), ("UNKNOWN", 5), ("SNOW", 4),
                     ("CLOUDY/OVERCAST", 3), ("FOG/SMOKE/HAZE", 0.5), ("FREEZING RAIN/DRIZZLE", 0.5)])
_CRASH_TYPES = Weighted([
    ("PARKED MOTOR VEHICLE", 23), ("REAR END", 22), ("SIDESWIPE SAME DIRECTION", 15), ("TURNING", 14),
    ("ANGLE", 11), ("FIXED OBJECT", 5), ("PEDESTRIAN", 2.5), ("PEDALCYCLIST", 1.5),
    ("SIDESWIPE OPPOSITE DIRECTION", 1.5), ("HEAD ON", 1), ("REAR TO FRONT", 1), ("OTHER OBJECT", 1),
])
_TRAFFICWAY = Weighted([
    ("NOT DIVIDED", 43), ("DIVIDED - W/MEDIAN (NOT RAISED)", 16), ("ONE-WAY", 13), ("FOUR WAY", 7),
    ("PARKING LOT", 7), ("DIVIDED - W/MEDIAN BARRIER", 6), ("OTHER", 3), ("ALLEY", 2),
    ("T-INTERSECTION", 2), ("UNKNOWN", 1),
])
_CAUSES = Weighted([
    ("UNABLE TO DETERMINE", 38), ("FAILING TO YIELD RIGHT-OF-WAY", 11), ("FOLLOWING TOO CLOSELY", 10),
    ("NOT APPLICABLE", 5), ("IMPROPER OVERTAKING/PASSING", 5),
    ("FAILING TO REDUCE SPEED TO AVOID CRASH", 4), ("IMPROPER BACKING", 4), ("IMPROPER LANE USAGE", 4),
    ("IMPROPER TURNING/NO SIGNAL", 3), ("DRIVING SKILLS/KNOWLEDGE/EXPERIENCE", 3),
    ("DISREGARDING TRAFFIC SIGNALS", 2), ("WEATHER", 1.5),
    ("OPERATING VEHICLE IN ERRATIC, RECKLESS, CARELESS, NEGLIGENT OR AGGRESSIVE MANNER", 1.5),
    ("DISREGARDING STOP SIGN", 1), ("EXCEEDING AUTHORIZED SPEED LIMIT", 0.5),
    ("UNDER THE INFLUENCE OF ALCOHOL/DRUGS (USE WHEN ARREST IS EFFECTED)", 0.5),
    ("PHYSICAL CONDITION OF DRIVER", 0.5),
])
# Fatal crashes are rare but a few hundred rows already hold one.
_SEVERITY = Weighted([("NO INDICATION OF INJURY", 85.6), ("NONINCAPACITATING INJURY", 11.5),
                      ("INCAPACITATING INJURY", 2.5), ("FATAL", 0.4)])
_DAMAGE = Weighted([("OVER $1,500", 62), ("$501 - $1,500", 26), ("$500 OR LESS", 12)])
_UNITS = Weighted([("2", 80), ("3", 9), ("1", 8), ("4", 3)])
# Crashes peak in the afternoon rush.
_HOURS = Weighted([(h, w) for h, w in enumerate(
    (3, 2, 2, 1.5, 1.5, 2, 3, 5, 6, 5, 5, 5.5, 6, 6.5, 7, 8, 8, 7.5, 6, 5, 4, 3.5, 3.5, 3))])
P_HIT_AND_RUN = 0.3
P_NO_INJURY_FIELDS = 0.003  # the portal leaves them out on a few reports


def _lighting(hour: int, month: int, d: Draws) -> str:
    dark_from, light_from = (17, 7) if month in (11, 12, 1, 2) else (20, 6)
    if hour in (dark_from, light_from - 1):
        return "DUSK" if hour == dark_from else "DAWN"
    if light_from <= hour < dark_from:
        return "DAYLIGHT"
    return "DARKNESS, LIGHTED ROAD" if d.chance(0.85) else "DARKNESS"


def _injuries(severity: str, d: Draws) -> tuple[int, int, int]:
    """(fatal, incapacitating, non-incapacitating), the worst one matching `severity`."""
    if severity == "FATAL":
        return 1 + d.below(10) // 9, d.below(2), d.below(3)
    if severity == "INCAPACITATING INJURY":
        return 0, 1 + d.below(5) // 4, d.below(3)
    if severity == "NONINCAPACITATING INJURY":
        return 0, 0, 1 + d.below(4) // 2
    return 0, 0, 0


class TrafficCrashesModel(RowModel):
    """Row model of 85ca-t3if."""

    dataset_id = "85ca-t3if"
    name = "traffic_crashes"
    title = "Traffic Crashes - Crashes"
    schema = Schema(COLUMNS, {
        "crash_date": FLOATING_TS, "date_police_notified": FLOATING_TS, "posted_speed_limit": NUMBER,
        "street_no": NUMBER, "beat_of_occurrence": NUMBER, "num_units": NUMBER,
        "injuries_total": NUMBER, "injuries_fatal": NUMBER, "injuries_incapacitating": NUMBER,
        "injuries_non_incapacitating": NUMBER, "crash_hour": NUMBER, "crash_day_of_week": NUMBER,
        "crash_month": NUMBER, "latitude": NUMBER, "longitude": NUMBER, "location": POINT,
    })
    key = "crash_record_id"
    key_is_number = False
    first_row = 1
    start, end = "2020-09-01", "2026-11-01"

    def key_text(self, row_number: int, event_ms: int) -> str:
        """128 hex digits like the portal's record ids (a hash: no order, no row number)."""
        return blake2b(f"crash:{row_number}".encode(), digest_size=64).hexdigest()

    def key_number(self, text: str) -> int | None:
        return None

    def placement(self, seed: int, row_number: int) -> Placement:
        return place(self.name, seed, row_number)

    def base_row(self, seed: int, row_number: int, event_ms: int,
                 placement: Placement | None = None) -> dict[str, Any]:
        d = Draws(self.name, seed, row_number)
        crashed = at_time_of_day(event_ms, _HOURS.pick(d) * HOUR_MS + d.below(60) * 60_000)
        when = datetime(1970, 1, 1) + timedelta(milliseconds=crashed)
        notified = crashed + int(d.lognormal(0.5, 1.2) * HOUR_MS)
        severity = _SEVERITY.pick(d)
        fatal, incapacitating, non_incapacitating = _injuries(severity, d)
        injured = fatal + incapacitating + non_incapacitating
        towed = injured > 0 or d.chance(0.25)
        pl = placement or self.placement(seed, row_number)
        number, direction, street_name = street(pl.lat, pl.lon, d)
        district = police_district(pl.lat, pl.lon)
        row: dict[str, Any] = {
            "crash_record_id": self.key_text(row_number, event_ms),
            "crash_date": floating(crashed, 60_000),
            "date_police_notified": floating(notified, 60_000),
            "posted_speed_limit": _SPEED.pick(d),
            "traffic_control_device": _CONTROL.pick(d),
            "weather_condition": _WEATHER.pick(d),
            "lighting_condition": _lighting(when.hour, when.month, d),
            "first_crash_type": _CRASH_TYPES.pick(d),
            "trafficway_type": _TRAFFICWAY.pick(d),
            "crash_type": ("INJURY AND / OR TOW DUE TO CRASH" if towed else "NO INJURY / DRIVE AWAY"),
            "damage": "OVER $1,500" if injured and d.chance(0.8) else _DAMAGE.pick(d),
            "prim_contributory_cause": _CAUSES.pick(d),
            "street_no": number,
            "street_direction": direction,
            "street_name": street_name,
            "beat_of_occurrence": str(district * 100 + d.between(1, 3) * 10 + d.between(1, 4)),
            "num_units": _UNITS.pick(d),
            "most_severe_injury": severity,
            "injuries_total": str(injured),
            "injuries_fatal": str(fatal),
            "injuries_incapacitating": str(incapacitating),
            "injuries_non_incapacitating": str(non_incapacitating),
            "crash_hour": str(when.hour),
            "crash_day_of_week": str(when.isoweekday() % 7 + 1),
            "crash_month": str(when.month),
        }
        if d.chance(P_HIT_AND_RUN):
            row["hit_and_run_i"] = "Y"
        if d.chance(P_NO_INJURY_FIELDS):
            for column in ("most_severe_injury", "injuries_total", "injuries_fatal",
                           "injuries_incapacitating", "injuries_non_incapacitating"):
                del row[column]
        row.update(point_columns(pl))
        return row

    def revise(self, row: dict[str, Any], seed: int, row_number: int, version: int) -> None:
        """An amended report: the cause is settled, or the damage re-assessed."""
        d = Draws(self.name, seed, row_number, version)
        if d.chance(0.5):
            causes = [c for c in _CAUSES.values if c != row.get("prim_contributory_cause")]
            row["prim_contributory_cause"] = d.choice(causes)
        else:
            damages = [c for c in _DAMAGE.values if c != row.get("damage")]
            row["damage"] = d.choice(damages)
