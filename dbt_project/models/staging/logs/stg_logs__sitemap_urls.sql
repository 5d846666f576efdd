{#
    Every URL the site's sitemaps list, once per normalised path (the newest
    lastmod wins when two sitemaps list one page), for comparison with the
    paths the logs hold.
#}

with

source as (
    {{ loaded_source('logs', 'sitemap_urls', {
        'loc': 'text',
        'lastmod': 'timestamptz',
        'changefreq': 'text',
        'priority': 'double precision',
        'sitemap': 'text',
    }) }}
),

parsed as (
    select
        loc,
        -- the path part of an absolute URL; a relative loc is its own path
        {{ normalized_path(
            "split_part(regexp_replace(loc, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*', ''), '?', 1)"
        ) }} as url_path,
        lastmod as last_modified_at,
        changefreq as change_frequency,
        priority,
        sitemap
    from source
    where loc is not null
),

one_per_path as (
    select distinct on (url_path)
        url_path,
        loc,
        last_modified_at,
        change_frequency,
        priority,
        sitemap
    from parsed
    order by url_path asc, last_modified_at desc nulls last, loc asc
)

select * from one_per_path
