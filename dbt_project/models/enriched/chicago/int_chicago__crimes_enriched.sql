{#
    delete+insert, not merge: it is dbt-postgres's own default for a
    unique_key, runs on every Postgres (MERGE needs 15+), and with the unique
    index on crime_id the delete is an index semi-join while the insert is a
    plain append; MERGE writes a new row version per update just the same.

    New rows are picked by loaded_at (the dlt load), not by the portal's
    updated_at: each load is atomic and later loads have later ids, so `>`
    takes exactly the loads this table has not seen. updated_at would miss
    rows the portal stamped late (the overlap window re-reads them) and every
    row of a raw table that was reloaded from scratch.

    A row already built is rebuilt only when the geocoder answered its
    coordinates anew after this table's last build (a boundary layer moved
    them, or they were located late), so its ZIP and area follow; a refresh
    where that did not happen reads the new loads alone (new_or_relocated,
    macros/geo.sql). The second pre-hook gives a table built before geocoding
    existed an empty geocoded_at: every located row is then rebuilt once.

    ZIP code and community area (number, name, side) come from the
    coordinates, as in every enriched point model (geo_joins / geo_columns,
    macros/geo.sql); community_area_id is the portal's own field, kept as is
    and compared in community_area_mismatch.

    Rejected rows (stg reject_reason) are left out. The pre-hook removes the
    older, valid version of a row that a new load made unusable, which the
    delete+insert alone would keep (it only deletes the keys it inserts).

    Before that, note_vacated_months (macros/monthly_marts.sql) notes the
    months of the rows the new loads revise or reject, for the marts rebuilt
    by month; the index on occurred_month is how they read a month.
#}
{{
    config(
        materialized='incremental',
        unique_key='crime_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ note_vacated_months(ref('stg_chicago__crimes'), 'crime_id', 'occurred_month') }}",
            "{{ drop_newly_rejected(ref('stg_chicago__crimes'), 'crime_id') }}",
            "alter table if exists {{ this }} add column if not exists geocoded_at timestamptz",
        ],
        indexes=[
            {'columns': ['crime_id'], 'unique': true},
            {'columns': ['loaded_at']},
            {'columns': ['geocoded_at']},
            {'columns': ['latitude', 'longitude']},
            {'columns': ['occurred_month']},
        ],
    )
}}

with

crimes as (
    {{ new_or_relocated(ref('stg_chicago__crimes'), 'crime_id') }}
),

fbi_crime_codes as (
    select * from {{ ref('fbi_crime_codes') }}
),

enriched as (
    select
        crimes.crime_id,
        crimes.case_number,
        crimes.iucr_code,
        crimes.fbi_code,
        crimes.block,
        crimes.location_description,
        crimes.beat,
        crimes.district,
        crimes.ward,
        crimes.community_area_id,
        crimes.x_coordinate,
        crimes.y_coordinate,
        crimes.latitude,
        crimes.longitude,
        {{ geo_columns('crimes', 'community_area_id') }},
        crimes.primary_type,
        crimes.crime_description,
        coalesce(fbi_crime_codes.crime_category, 'other') as crime_category,
        crimes.is_arrest,
        crimes.is_domestic,
        crimes.occurred_at,
        (
            crimes.occurred_at at time zone '{{ var("chicago_timezone") }}'
        )::date as occurred_date,
        date_trunc(
            'month',
            crimes.occurred_at at time zone '{{ var("chicago_timezone") }}'
        )::date as occurred_month,
        crimes.occurred_year,
        crimes.source_updated_at,
        crimes.updated_at,
        crimes.loaded_at
    from crimes
    left join fbi_crime_codes
        on crimes.fbi_code = fbi_crime_codes.fbi_code
    {{ geo_joins('crimes') }}
)

select * from enriched
