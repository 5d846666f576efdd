{#
    Records per dataset, month and community area (from coordinates, not the
    portal's own community_area field). Records with no coordinates, or
    outside every area, are counted under a NULL community_area_number named
    'Unknown'.
#}

with

records as (
    select * from {{ ref('int_chicago__located_records') }}
),

community_areas as (
    select * from {{ ref('chicago_community_areas') }}
),

counted as (
    select
        records.dataset,
        records.month,
        records.community_area_number,
        coalesce(community_areas.community_area_name, 'Unknown') as community_area_name,
        count(*) as record_count
    from records
    left join community_areas
        on records.community_area_number = community_areas.community_area_id
    group by 1, 2, 3, 4
),

{# The published types, as the contract declares them (_chicago__models.yml). #}
final as (
    select
        dataset::text as dataset,
        month::date as month,
        community_area_number::integer as community_area_number,
        community_area_name::text as community_area_name,
        record_count::bigint as record_count
    from counted
)

select * from final
