{#
    Pages verified search-engine crawlers fetch (status 200, not a static file)
    that no sitemap lists: orphans, found by crawlers through links the site
    may not mean to keep.
#}

with

crawled as (
    select * from {{ ref('int_logs__requests_classified') }}
    where verification = 'verified' and status_code = 200 and not is_static
),

sitemap as (
    select * from {{ ref('stg_logs__sitemap_urls') }}
),

orphans as (
    select
        crawled.url_path,
        count(*) as verified_bot_hits,
        string_agg(distinct crawled.crawler, ', ' order by crawled.crawler) as crawlers,
        min(crawled.requested_at) as first_crawled_at,
        max(crawled.requested_at) as last_crawled_at
    from crawled
    where not exists (
            select 1 from sitemap
            where sitemap.url_path = crawled.url_path
        )
    group by crawled.url_path
)

select * from orphans
