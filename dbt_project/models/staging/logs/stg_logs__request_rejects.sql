{# Lines that did not parse as a request, with the reason code and its detail. #}

with

source as (
    {{ loaded_source('logs', 'request_rejects', {
        'line_id': 'text',
        'ts_ns': 'bigint',
        'reason': 'text',
        'line': 'text',
        '_dlt_load_id': 'text',
    }) }}
),

renamed as (
    select
        line_id,
        to_timestamp(ts_ns / 1e9) as logged_at,
        split_part(reason, ':', 1) as reason_code,
        case
            when position(':' in reason) > 0
                then nullif(trim(substring(reason from position(':' in reason) + 1)), '')
        end as reason_detail,
        line,
        _dlt_load_id as load_id
    from source
)

select * from renamed
