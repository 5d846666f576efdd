{#
    Records per dataset, month and community area (from coordinates, not the
    portal's own community_area field). Records with no coordinates, or
    outside every area, are counted under a NULL community_area_number named
    'Unknown'.

    Incremental, rebuilt by (dataset, month) like rpt_chicago__monthly_by_zip
    (macros/monthly_marts.sql). A change of the chicago_community_areas seed
    needs `--full-refresh`.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_touched_months('month', dataset_column='dataset') }}",
        post_hook="{{ record_mart_watermarks() }}",
    )
}}

with

records as (
    select * from {{ ref('int_chicago__located_records') }}
    where {{ touched_months_filter('month', dataset_column='dataset') }}
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
