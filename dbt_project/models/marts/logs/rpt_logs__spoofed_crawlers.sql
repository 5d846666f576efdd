{#
    Clients that claim a search engine's crawler from an address outside the
    engine's published ranges: fakes, usually scrapers or probes. One row per
    claimed crawler and address.
#}

with

spoofed as (
    select * from {{ ref('int_logs__requests_classified') }}
    where verification = 'spoofed'
),

per_address as (
    select
        crawler,
        host(visitor_ip) as visitor_address,
        count(*) as hits,
        count(distinct url_path) as distinct_paths,
        min(requested_at) as first_seen_at,
        max(requested_at) as last_seen_at,
        min(user_agent) as user_agent
    from spoofed
    group by 1, 2
)

select * from per_address
