with

crimes as (
    select * from {{ ref('int_chicago__crimes_enriched') }}
),

{# A NULL community_area_id groups as its own bucket, named 'Unknown'. #}
monthly_by_area as (
    select
        occurred_month,
        community_area_id,
        community_area_name,
        side,
        count(*) as crime_count,
        count(*) filter (where is_arrest) as arrest_count,
        count(*) filter (where is_domestic) as domestic_count,
        count(*) filter (where crime_category = 'violent') as violent_count,
        count(*) filter (where crime_category = 'property') as property_count
    from crimes
    group by
        occurred_month,
        community_area_id,
        community_area_name,
        side
),

final as (
    select
        occurred_month,
        community_area_id,
        community_area_name,
        side,
        crime_count,
        arrest_count,
        round(arrest_count::numeric / crime_count, 4) as arrest_rate,
        round(domestic_count::numeric / crime_count, 4) as domestic_share,
        violent_count,
        property_count
    from monthly_by_area
)

select * from final
