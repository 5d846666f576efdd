{#
    Crimes per month and community area as the portal records it
    (community_area_id), not the area from the coordinates: the seed names the
    portal's area here, as the enriched models name the polygon's.

    Incremental, rebuilt by month (macros/monthly_marts.sql): a build deletes
    and recounts the months the crimes touched since its last build: their
    new or revised rows' months, and the months revised or rejected rows left
    (noted by the enriched model before it rewrote them). A month is recounted
    whole, so an area a crime left loses it, and a group left empty is gone.
    A change of the chicago_community_areas seed needs `--full-refresh`.
#}
{#
    on_schema_change 'fail': an incremental model with an enforced contract
    must say what a change of its columns does; a mart whose new column would
    be empty in the months not rebuilt must be rebuilt whole instead.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_touched_months('occurred_month', ['crimes']) }}",
        post_hook="{{ record_mart_watermarks(['crimes']) }}",
    )
}}

with

crimes as (
    select * from {{ ref('int_chicago__crimes_enriched') }}
    where {{ touched_months_filter('occurred_month', ['crimes']) }}
),

community_areas as (
    select * from {{ ref('chicago_community_areas') }}
),

{# A NULL community_area_id groups as its own bucket, named 'Unknown'. #}
monthly_by_area as (
    select
        occurred_month,
        community_area_id,
        count(*) as crime_count,
        count(*) filter (where is_arrest) as arrest_count,
        count(*) filter (where is_domestic) as domestic_count,
        count(*) filter (where crime_category = 'violent') as violent_count,
        count(*) filter (where crime_category = 'property') as property_count
    from crimes
    group by
        occurred_month,
        community_area_id
),

{# The published types, as the contract declares them (_chicago__models.yml). #}
final as (
    select
        monthly_by_area.occurred_month::date as occurred_month,
        monthly_by_area.community_area_id::integer as community_area_id,
        coalesce(
            community_areas.community_area_name, 'Unknown'
        )::text as community_area_name,
        community_areas.side::text as side,
        monthly_by_area.crime_count::bigint as crime_count,
        monthly_by_area.arrest_count::bigint as arrest_count,
        round(
            monthly_by_area.arrest_count::numeric / monthly_by_area.crime_count,
            4
        )::numeric as arrest_rate,
        round(
            monthly_by_area.domestic_count::numeric
            / monthly_by_area.crime_count,
            4
        )::numeric as domestic_share,
        monthly_by_area.violent_count::bigint as violent_count,
        monthly_by_area.property_count::bigint as property_count
    from monthly_by_area
    left join community_areas
        on monthly_by_area.community_area_id = community_areas.community_area_id
)

select * from final
