{#
    Where verified search-engine crawlers spend their crawl budget, per UTC day
    and crawler: hits on redirects, client and server errors, parameterised
    and static URLs, each also as a share (a fraction 0-1, 4 decimals) of the
    verified hits. wasted_hits counts a hit once however many kinds it is.
#}

with

verified as (
    select * from {{ ref('int_logs__requests_classified') }}
    where verification = 'verified'
),

counted as (
    select
        (requested_at at time zone 'UTC')::date as crawl_date,
        crawler,
        count(*) as verified_hits,
        count(*) filter (where status_code between 300 and 399) as redirect_hits,
        count(*) filter (where status_code between 400 and 499) as client_error_hits,
        count(*) filter (where status_code between 500 and 599) as server_error_hits,
        count(*) filter (where has_query) as parameterised_hits,
        count(*) filter (where is_static) as static_hits,
        count(*) filter (
            where status_code between 300 and 599 or has_query or is_static
        ) as wasted_hits
    from verified
    group by 1, 2
),

shares as (
    select
        *,
        round(redirect_hits::numeric / verified_hits, 4)::numeric(5, 4) as redirect_share,
        round(client_error_hits::numeric / verified_hits, 4)::numeric(5, 4) as client_error_share,
        round(server_error_hits::numeric / verified_hits, 4)::numeric(5, 4) as server_error_share,
        round(parameterised_hits::numeric / verified_hits, 4)::numeric(5, 4) as parameterised_share,
        round(static_hits::numeric / verified_hits, 4)::numeric(5, 4) as static_share,
        round(wasted_hits::numeric / verified_hits, 4)::numeric(5, 4) as wasted_share
    from counted
)

select * from shares
