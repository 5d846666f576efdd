{#
    Socrata sends every field as a string and omits null keys; nullif(trim())
    turns blanks into NULL before each cast so a stray '' cannot fail a cast.
    Floating timestamps are Chicago wall-clock time, made absolute here.
#}

with

source as (
    select * from {{ source('chicago', 'crimes') }}
),

renamed as (
    select
        -- ids
        nullif(trim(id), '')::bigint as crime_id,
        nullif(trim(case_number), '') as case_number,
        nullif(trim(iucr), '') as iucr_code,
        nullif(trim(fbi_code), '') as fbi_code,

        -- place
        nullif(trim(block), '') as block,
        nullif(trim(location_description), '') as location_description,
        nullif(trim(beat), '') as beat,
        nullif(trim(district), '') as district,
        nullif(trim(ward), '')::int as ward,
        nullif(trim(community_area), '')::int as community_area_id,
        nullif(trim(x_coordinate), '')::numeric as x_coordinate,
        nullif(trim(y_coordinate), '')::numeric as y_coordinate,
        nullif(trim(latitude), '')::double precision as latitude,
        nullif(trim(longitude), '')::double precision as longitude,

        -- classification
        nullif(trim(primary_type), '') as primary_type,
        nullif(trim(description), '') as crime_description,

        -- flags
        arrest as is_arrest,
        domestic as is_domestic,

        -- time
        nullif(trim("date"), '')::timestamp
        at time zone '{{ var("chicago_timezone") }}' as occurred_at,
        nullif(trim("year"), '')::int as occurred_year,
        nullif(trim(updated_on), '')::timestamp
        at time zone '{{ var("chicago_timezone") }}' as source_updated_at,

        -- platform and load metadata
        socrata_updated_at as updated_at,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
)

select * from renamed
