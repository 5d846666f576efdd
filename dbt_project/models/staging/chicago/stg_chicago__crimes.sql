{#
    Socrata sends every field as a string and omits null keys. nullif(trim())
    turns blanks into NULL, and cast_or_null turns a value that does not parse
    into NULL, so one malformed row cannot fail the build. A row without a
    usable id or occurrence date cannot be counted anywhere: reject_reason
    says why, the enriched model leaves it out, and rpt_chicago__rejected_rows
    lists it. Other unparsable values become NULL and are flagged by warn
    tests on the source. Floating timestamps are Chicago wall-clock time,
    made absolute here.
#}

with

source as (
    select * from {{ source('chicago', 'crimes') }}
),

renamed as (
    select
        -- ids
        {{ cast_or_null("nullif(trim(id), '')", 'bigint') }} as crime_id,
        nullif(trim(case_number), '') as case_number,
        nullif(trim(iucr), '') as iucr_code,
        nullif(trim(fbi_code), '') as fbi_code,

        -- place
        nullif(trim(block), '') as block,
        nullif(trim(location_description), '') as location_description,
        nullif(trim(beat), '') as beat,
        nullif(trim(district), '') as district,
        {{ cast_or_null('ward', 'integer') }} as ward,
        {{ cast_or_null('community_area', 'integer') }} as community_area_id,
        {{ cast_or_null('x_coordinate', 'numeric') }} as x_coordinate,
        {{ cast_or_null('y_coordinate', 'numeric') }} as y_coordinate,
        {{ cast_or_null('latitude', 'double precision') }} as latitude,
        {{ cast_or_null('longitude', 'double precision') }} as longitude,

        -- classification
        nullif(trim(primary_type), '') as primary_type,
        nullif(trim(description), '') as crime_description,

        -- flags
        arrest as is_arrest,
        domestic as is_domestic,

        -- time
        {{ cast_or_null('"date"', 'timestamp') }}
        at time zone '{{ var("chicago_timezone") }}' as occurred_at,
        {{ cast_or_null('"year"', 'integer') }} as occurred_year,
        {{ cast_or_null('updated_on', 'timestamp') }}
        at time zone '{{ var("chicago_timezone") }}' as source_updated_at,

        -- platform and load metadata
        socrata_updated_at as updated_at,
        to_timestamp(_dlt_load_id::double precision) as loaded_at,

        -- why the row cannot be counted downstream; NULL when it can
        case
            {{ reject_unless_castable('id', 'bigint') }}
            {{ reject_unless_castable('"date"', 'timestamp') }}
        end as reject_reason
    from source
)

select * from renamed
