{#
    The outlines of Chicago's community areas and ZIP codes, one row per area:
    what the portal draws its maps from (pulse/maps.py), and what a BI tool
    needs for a map of its own. Not a report (no rpt_ prefix): no files of its
    own, but the analyst reads it like every mart.

    A table, rebuilt whole: 136 rows, replaced when the city redraws a layer.
#}

with

community_areas as (
    select * from {{ ref('stg_chicago__community_areas') }}
),

area_names as (
    select * from {{ ref('chicago_community_areas') }}
),

zip_codes as (
    select * from {{ ref('stg_chicago__zip_codes') }}
),

areas as (
    select
        'community_area'::text as layer,
        community_areas.community_area_number::text as area_key,
        coalesce(
            area_names.community_area_name,
            community_areas.source_community_area_name
        )::text as area_name,
        community_areas.boundary::jsonb as boundary
    from community_areas
    left join area_names
        on community_areas.community_area_number = area_names.community_area_id
    where community_areas.community_area_number is not null
),

zips as (
    select
        'zip_code'::text as layer,
        zip_code::text as area_key,
        zip_code::text as area_name,
        boundary::jsonb as boundary
    from zip_codes
),

unioned as (
    select * from areas
    union all
    select * from zips
)

select * from unioned
