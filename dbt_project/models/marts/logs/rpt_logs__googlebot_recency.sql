{#
    For every sitemap URL and every page verified Googlebot fetched: when
    verified Googlebot last fetched it, and how many days before the newest
    request loaded (as_of_at) that was; NULL when it never did. Measured against
    the logs' own newest time, not the clock, so a late load does not age pages.
#}

with

requests as (
    select * from {{ ref('int_logs__requests_classified') }}
),

googlebot as (
    select
        url_path,
        max(requested_at) as last_googlebot_at
    from requests
    where crawler = 'googlebot' and verification = 'verified'
    group by url_path
),

sitemap as (
    select * from {{ ref('stg_logs__sitemap_urls') }}
),

as_of as (
    select max(requested_at) as as_of_at from requests
),

pages as (
    select url_path from sitemap
    union
    select url_path from googlebot
),

recency as (
    select
        pages.url_path,
        exists(
            select 1 from sitemap
            where sitemap.url_path = pages.url_path
        ) as in_sitemap,
        googlebot.last_googlebot_at,
        as_of.as_of_at,
        (
            (as_of.as_of_at at time zone 'UTC')::date
            - (googlebot.last_googlebot_at at time zone 'UTC')::date
        ) as days_since_googlebot
    from pages
    cross join as_of
    left join googlebot on pages.url_path = googlebot.url_path
)

select * from recency
