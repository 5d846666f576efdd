"""What the Chicago source loads: the dataset ids, their keys and declared columns."""

from dlt.common.schema.typing import TTableSchemaColumns

PORTAL_URL = "https://data.cityofchicago.org"

CRIMES_DATASET_ID = "ijzp-q8t2"

# SODA 2.1 returns at most 50,000 rows a page.
MAX_PAGE_SIZE = 50_000

# Socrata system fields, renamed because dlt's column names cannot start with ":".
SYSTEM_FIELDS = {
    ":id": "socrata_id",
    ":created_at": "socrata_created_at",
    ":updated_at": "socrata_updated_at",
}

# Every key a crimes row may carry. Types are declared, never inferred: Socrata omits
# null keys, so the first page cannot tell dlt which columns exist or what they hold.
# Numbers stay text as the API sends them; staging casts them (one place for casting).
_TEXT_COLUMNS = (
    "case_number", "date", "block", "iucr", "primary_type", "description",
    "location_description", "beat", "district", "ward", "community_area", "fbi_code",
    "x_coordinate", "y_coordinate", "year", "updated_on", "latitude", "longitude",
)  # fmt: skip

CRIMES_COLUMNS: TTableSchemaColumns = {
    "id": {"data_type": "text", "nullable": False, "primary_key": True},
    **{name: {"data_type": "text", "nullable": True} for name in _TEXT_COLUMNS},
    "arrest": {"data_type": "bool", "nullable": True},
    "domestic": {"data_type": "bool", "nullable": True},
    # {latitude, longitude, human_address}: kept whole as jsonb instead of child columns.
    "location": {"data_type": "json", "nullable": True},
    "socrata_id": {"data_type": "text", "nullable": True},
    "socrata_created_at": {"data_type": "timestamp", "nullable": True},
    # A row revised while a run pages comes twice in one load: the merge keeps the newest.
    "socrata_updated_at": {"data_type": "timestamp", "nullable": False, "dedup_sort": "desc"},
}
