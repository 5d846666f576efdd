{#
    Helpers of the log models (staging/logs, enriched/logs).

    as_inet(column): the text as inet, or NULL when it is not an IP address (a log
    may hold host names, "-" or garbage; one bad line must not fail the build).
    The patterns are strict: a dotted quad of 0-255, or an IPv6 address in its
    standard forms (an IPv4-mapped or zoned address reads as NULL: unverifiable).
#}
{% macro as_inet(column) -%}
    {%- set octet = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])' -%}
    {%- set h = '[0-9a-f]{1,4}' -%}
    {%- set ipv6 = '^(' ~ ([
        '(' ~ h ~ ':){7}' ~ h,
        '(' ~ h ~ ':){1,7}:',
        '(' ~ h ~ ':){1,6}:' ~ h,
        '(' ~ h ~ ':){1,5}(:' ~ h ~ '){1,2}',
        '(' ~ h ~ ':){1,4}(:' ~ h ~ '){1,3}',
        '(' ~ h ~ ':){1,3}(:' ~ h ~ '){1,4}',
        '(' ~ h ~ ':){1,2}(:' ~ h ~ '){1,5}',
        h ~ ':(:' ~ h ~ '){1,6}',
        ':((:' ~ h ~ '){1,7}|:)',
    ] | join('|')) ~ ')$' -%}
    case
        when {{ column }} ~ '^{{ octet }}(\.{{ octet }}){3}$' then ({{ column }})::inet
        when {{ column }} ~* '{{ ipv6 }}' then ({{ column }})::inet
    end
{%- endmacro %}

{#
    normalized_path(path): a request's or a sitemap's path as one URL is counted -
    runs of slashes collapsed, a trailing slash dropped (but "/" kept), a fragment
    dropped, and an empty path read as "/". Case is kept: paths are case-sensitive.
#}
{% macro normalized_path(path) -%}
    coalesce(
        nullif(
            regexp_replace(
                regexp_replace(split_part({{ path }}, '#', 1), '/{2,}', '/', 'g'),
                '(.)/$', '\1'
            ),
            ''
        ),
        '/'
    )
{%- endmacro %}

{#
    is_static_path(path): a file a page loads (scripts, styles, images, fonts),
    not a page: crawl budget spent on these is the "static" share of waste.
#}
{% macro is_static_path(path) -%}
    ({{ path }} ~* '\.(js|mjs|css|map|png|jpe?g|gif|webp|avif|svg|ico|bmp|woff2?|ttf|otf|eot|mp4|webm|mp3)$')
{%- endmacro %}

{#
    ip_in_range(ip, range): whether the inet `ip` lies in the cidr `range` (what
    Postgres's <<= says, written with its documented functions: the address
    masked to the range's length is the range). Addresses of the other family
    are never in it.
#}
{% macro ip_in_range(ip, range) -%}
    case
        when inet_same_family({{ ip }}, {{ range }})
            then network(set_masklen({{ ip }}, masklen({{ range }}))) = {{ range }}
        else false
    end
{%- endmacro %}
