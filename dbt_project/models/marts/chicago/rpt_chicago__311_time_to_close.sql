{#
    How long 311 requests take to close, by request type and community area:
    the median and 90th percentile of hours from created to closed, over
    closed requests (closed_at set and not before created_at). Requests still
    open are counted but not in the percentiles.
#}

with

requests as (
    select * from {{ ref('int_chicago__service_requests_enriched') }}
),

summarised as (
    select
        request_type,
        community_area_number,
        community_area_name,
        count(*) as request_count,
        count(hours_to_close) as closed_count,
        round(
            (percentile_cont(0.5) within group (order by hours_to_close))::numeric, 2
        ) as median_hours_to_close,
        round(
            (percentile_cont(0.9) within group (order by hours_to_close))::numeric, 2
        ) as p90_hours_to_close
    from requests
    group by request_type, community_area_number, community_area_name
),

{# The published types, as the contract declares them (_chicago__models.yml). #}
final as (
    select
        request_type::text as request_type,
        community_area_number::integer as community_area_number,
        community_area_name::text as community_area_name,
        request_count::bigint as request_count,
        closed_count::bigint as closed_count,
        median_hours_to_close::numeric as median_hours_to_close,
        p90_hours_to_close::numeric as p90_hours_to_close
    from summarised
)

select * from final
