{# Sitemap URLs no verified search-engine crawler has fetched in the logs loaded. #}

with

sitemap as (
    select * from {{ ref('stg_logs__sitemap_urls') }}
),

requests as (
    select * from {{ ref('int_logs__requests_classified') }}
),

uncrawled as (
    select
        sitemap.url_path,
        sitemap.loc,
        sitemap.last_modified_at,
        (
            select count(*) from requests
            where requests.url_path = sitemap.url_path and requests.visitor_kind = 'human'
        ) as human_hits
    from sitemap
    where not exists (
            select 1 from requests
            where requests.url_path = sitemap.url_path and requests.verification = 'verified'
                and requests.search_engine is not null
        )
)

select * from uncrawled
