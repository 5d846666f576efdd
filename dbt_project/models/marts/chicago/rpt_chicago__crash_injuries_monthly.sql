{# Crashes, injuries and fatalities per month and community area (from coordinates). #}

with

crashes as (
    select * from {{ ref('int_chicago__traffic_crashes_enriched') }}
),

summarised as (
    select
        crashed_month,
        community_area_number,
        community_area_name,
        count(*) as crash_count,
        count(*) filter (where has_injuries) as crashes_with_injuries,
        sum(injuries_total) as injuries_total,
        sum(injuries_incapacitating) as injuries_incapacitating,
        count(*) filter (where is_fatal) as fatal_crashes,
        sum(injuries_fatal) as fatalities
    from crashes
    group by crashed_month, community_area_number, community_area_name
)

select * from summarised
