{#
    Records per dataset, month and ZIP code (from coordinates). Records with
    no coordinates, or outside every ZIP polygon, are counted under a NULL
    zip_code, with located = false, so totals still add up.

    Incremental, rebuilt by (dataset, month) like
    rpt_chicago__crimes_monthly_by_area (macros/monthly_marts.sql): a record
    that moved to another ZIP, by a revision or by the geocoder, is recounted
    with the rest of its month in both ZIPs.
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

counted as (
    select
        dataset,
        month,
        zip_code,
        zip_code is not null as is_located,
        count(*) as record_count
    from records
    group by dataset, month, zip_code
),

{# The published types, as the contract declares them (_chicago__models.yml). #}
final as (
    select
        dataset::text as dataset,
        month::date as month,
        zip_code::text as zip_code,
        is_located::boolean as is_located,
        record_count::bigint as record_count
    from counted
)

select * from final
