{#
    Each parsed web request, typed and named as the log models use it: the
    path normalised into one URL per page (macros/logs.sql), the query string
    kept apart with a flag, the client address as inet (NULL when the log holds
    a host name or garbage), the referrer's host, and the response time in
    seconds where the log format records it.
#}

with

source as (
    {{ loaded_source('logs', 'requests', {
        'line_id': 'text',
        'log_format': 'text',
        'client_ip': 'text',
        'remote_user': 'text',
        'requested_at': 'timestamptz',
        'method': 'text',
        'target': 'text',
        'path': 'text',
        'query_string': 'text',
        'protocol': 'text',
        'status': 'smallint',
        'bytes': 'bigint',
        'referrer': 'text',
        'user_agent': 'text',
        'forwarded_for': 'text',
        'request_time_s': 'double precision',
        'upstream_time_s': 'double precision',
        'host': 'text',
        '_dlt_load_id': 'text',
    }) }}
),

renamed as (
    select
        line_id,
        requested_at,
        method,
        {{ normalized_path('path') }} as url_path,
        nullif(query_string, '') as query_string,
        coalesce(query_string, '') != '' as has_query,
        target,
        protocol,
        status as status_code,
        bytes as response_bytes,
        referrer,
        lower(substring(referrer from '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#]+)')) as referrer_host,
        user_agent,
        client_ip as client_address,
        {{ as_inet('client_ip') }} as client_ip,
        {{ as_inet('forwarded_for') }} as forwarded_for,
        remote_user,
        host,
        request_time_s as response_time_s,
        upstream_time_s,
        log_format,
        _dlt_load_id as load_id
    from source
)

select * from renamed
