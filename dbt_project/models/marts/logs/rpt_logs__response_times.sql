{#
    How fast each page answers bots (every client a crawler family or a bot
    agent claims) and humans: requests, and of those the log timed, the mean,
    median and 95th percentile response time in seconds (3 decimals).
#}

with

requests as (
    select * from {{ ref('int_logs__requests_classified') }}
),

timed as (
    select
        url_path,
        case when visitor_kind = 'human' then 'human' else 'bot' end as visitor_group,
        count(*) as requests,
        count(response_time_s) as timed_requests,
        round(avg(response_time_s)::numeric, 3)::numeric(12, 3) as mean_response_time_s,
        round(
            (percentile_cont(0.5) within group (order by response_time_s))::numeric, 3
        )::numeric(12, 3) as median_response_time_s,
        round(
            (percentile_cont(0.95) within group (order by response_time_s))::numeric, 3
        )::numeric(12, 3) as p95_response_time_s
    from requests
    group by 1, 2
)

select * from timed
