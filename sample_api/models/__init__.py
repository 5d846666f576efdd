"""Row models of the Chicago datasets the local portal serves, one module each.

A model says what a dataset's rows look like; `rows.RowDataset` stores and serves
them. `common` and `geo` hold what the models share (seeded draws, Socrata's text
encodings, points from the synthetic boundaries with their ground truth).
"""

from .building_permits import BuildingPermitsModel
from .declared import DeclaredModel
from .food_inspections import FoodInspectionsModel
from .geo import Placement
from .service_requests import ServiceRequestsModel
from .traffic_crashes import TrafficCrashesModel

__all__ = [
    "BuildingPermitsModel",
    "DeclaredModel",
    "FoodInspectionsModel",
    "Placement",
    "ServiceRequestsModel",
    "TrafficCrashesModel",
]
