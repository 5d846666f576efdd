{#
    Visits people made from a search engine's results, per UTC day, landing
    page and engine (by the referrer's host).
#}

with

requests as (
    select * from {{ ref('int_logs__requests_classified') }}
    where visitor_kind = 'human' and referrer_host is not null
),

engines as (
    select
        (requested_at at time zone 'UTC')::date as visit_date,
        url_path as landing_path,
        case
            when referrer_host ~ '(^|\.)google\.[a-z.]+$' then 'Google'
            when referrer_host ~ '(^|\.)bing\.com$' then 'Bing'
            when referrer_host ~ '(^|\.)duckduckgo\.com$' then 'DuckDuckGo'
            when referrer_host ~ '(^|\.)yandex\.[a-z.]+$' then 'Yandex'
            when referrer_host ~ '(^|\.)baidu\.com$' then 'Baidu'
            when referrer_host ~ '(^|\.)search\.yahoo\.com$' then 'Yahoo'
            when referrer_host ~ '(^|\.)ecosia\.org$' then 'Ecosia'
        end as search_engine
    from requests
),

referrals as (
    select
        visit_date,
        landing_path,
        search_engine,
        count(*) as visits
    from engines
    where search_engine is not null
    group by 1, 2, 3
)

select * from referrals
