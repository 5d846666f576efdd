{# How often each crawler asked for each URL, per UTC day, verified or not. #}

with

crawls as (
    select * from {{ ref('int_logs__requests_classified') }}
    where crawler is not null
),

daily as (
    select
        (requested_at at time zone 'UTC')::date as crawl_date,
        crawler,
        url_path,
        count(*) as hits,
        count(*) filter (where verification = 'verified') as verified_hits,
        count(*) filter (where verification = 'spoofed') as spoofed_hits
    from crawls
    group by 1, 2, 3
)

select * from daily
