{#
    Every request with who made it: the crawler family its user agent claims
    (seed crawler_user_agents, first match by precedence), and whether its
    address is in that engine's published ranges (seed crawler_ip_ranges):
    verified, spoofed (a family with published ranges, an address outside
    them or none), or unverifiable (a family that publishes none). Browsers
    and other clients are humans; an agent saying bot, crawler or spider that
    no family claims is other_bot.

    The address verified is the connecting client's. X-Forwarded-For is the
    client's own claim unless a trusted proxy wrote it: set the var
    logs_trust_forwarded_for to true when the web servers sit behind one.

    Incremental: a build reads the dlt loads it has not seen and replaces their
    lines (a re-read overlap carries a newer load id).
#}
{{
    config(
        materialized='incremental',
        unique_key='line_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['line_id'], 'unique': true},
            {'columns': ['load_id']},
            {'columns': ['requested_at']},
        ],
    )
}}

with

requests as (
    select * from {{ ref('stg_logs__requests') }}
    {% if is_incremental() %}
        where load_id > (select coalesce(max(kept.load_id), '') from {{ this }} as kept)
    {% endif %}
),

agents as (
    select * from {{ ref('crawler_user_agents') }}
),

ranges as (
    select * from {{ ref('crawler_ip_ranges') }}
),

addressed as (
    select
        *,
        {% if var('logs_trust_forwarded_for', false) -%}
            coalesce(forwarded_for, client_ip)
        {%- else -%}
            client_ip
        {%- endif %} as visitor_ip
    from requests
),

claimed as (
    select
        addressed.*,
        agent.crawler,
        agent.search_engine,
        agent.crawler_kind
    from addressed
    left join lateral (
        select
            agents.crawler,
            agents.search_engine,
            agents.crawler_kind
        from agents
        where addressed.user_agent ~* agents.user_agent_pattern
        order by agents.precedence asc
        limit 1
    ) as agent on true
),

-- each claimed crawler's distinct addresses checked once, not each request
addresses as (
    select distinct
        crawler,
        visitor_ip
    from claimed
    where crawler is not null
),

published as (
    select distinct crawler from ranges
),

in_range as (
    select distinct
        addresses.crawler,
        addresses.visitor_ip
    from addresses
    inner join ranges
        on addresses.crawler = ranges.crawler
        and {{ ip_in_range('addresses.visitor_ip', 'ranges.ip_range') }}
),

checked as (
    select
        addresses.crawler,
        addresses.visitor_ip,
        case
            -- no published ranges, or a host name where the address should be
            when published.crawler is null or addresses.visitor_ip is null
                then 'unverifiable'
            when in_range.crawler is not null then 'verified'
            else 'spoofed'
        end as verification
    from addresses
    left join published on addresses.crawler = published.crawler
    left join in_range
        on addresses.crawler = in_range.crawler
        and addresses.visitor_ip = in_range.visitor_ip
),

classified as (
    select
        claimed.line_id,
        claimed.requested_at,
        claimed.method,
        claimed.url_path,
        claimed.query_string,
        claimed.has_query,
        {{ is_static_path('claimed.url_path') }} as is_static,
        claimed.status_code,
        claimed.response_bytes,
        claimed.response_time_s,
        claimed.referrer,
        claimed.referrer_host,
        claimed.user_agent,
        claimed.client_address,
        claimed.visitor_ip,
        claimed.host,
        claimed.crawler,
        claimed.search_engine,
        case
            when claimed.crawler_kind is not null then claimed.crawler_kind || '_bot'
            when claimed.user_agent ~* '(bot|crawler|spider|slurp)' then 'other_bot'
            else 'human'
        end as visitor_kind,
        checked.verification,
        coalesce(checked.verification = 'verified', false) as is_verified_bot,
        claimed.load_id
    from claimed
    left join checked
        on claimed.crawler = checked.crawler
        and claimed.visitor_ip is not distinct from checked.visitor_ip
)

select * from classified
