{#
    Crashes, injuries and fatalities per month and community area (from
    coordinates). Incremental, rebuilt by month like
    rpt_chicago__crimes_monthly_by_area (macros/monthly_marts.sql): the months
    crashes were loaded, revised, rejected or re-geocoded in, and the months
    revised ones left, are recounted whole.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_touched_months('crashed_month', ['traffic_crashes']) }}",
        post_hook="{{ record_mart_watermarks(['traffic_crashes']) }}",
    )
}}

with

crashes as (
    select * from {{ ref('int_chicago__traffic_crashes_enriched') }}
    where {{ touched_months_filter('crashed_month', ['traffic_crashes']) }}
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
),

{# The published types, as the contract declares them (_chicago__models.yml). #}
final as (
    select
        crashed_month::date as crashed_month,
        community_area_number::integer as community_area_number,
        community_area_name::text as community_area_name,
        crash_count::bigint as crash_count,
        crashes_with_injuries::bigint as crashes_with_injuries,
        injuries_total::bigint as injuries_total,
        injuries_incapacitating::bigint as injuries_incapacitating,
        fatal_crashes::bigint as fatal_crashes,
        fatalities::bigint as fatalities
    from summarised
)

select * from final
