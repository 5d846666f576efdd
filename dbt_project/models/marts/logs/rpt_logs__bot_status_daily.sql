{# The status codes each crawler got, per UTC day and verification. #}

with

crawls as (
    select * from {{ ref('int_logs__requests_classified') }}
    where crawler is not null
),

daily as (
    select
        (requested_at at time zone 'UTC')::date as crawl_date,
        crawler,
        verification,
        status_code,
        count(*) as hits
    from crawls
    group by 1, 2, 3, 4
)

select * from daily
