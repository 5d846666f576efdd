"""One module per stage of the data, in its order: ingest, geocode, dbt, reports, then when
it all runs (schedules) and how fresh the sources are (freshness). Each builds its
definitions in cached functions that `orchestration.definitions` calls: nothing here
reads a file or the warehouse when imported."""
