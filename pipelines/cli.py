"""`pulse load <source>`: added to the `pulse` command through the `pulse.commands` entry
points (pyproject.toml), since pulse/ may not import the layer above it."""

from __future__ import annotations

import argparse
import sys

from pulse import roles
from pulse.cli import add_command, step


def add_load(sub: argparse._SubParsersAction) -> None:
    load = add_command(sub, "load", "run one source's dlt pipeline (incremental)", examples=[
        "pulse load chicago --dataset crimes", "pulse load worldbank",
        "pulse load oecd --dataset gdp", "pulse load events   # drain the collector's spool",
        "SOURCES__LOKI__BASE_URL=http://127.0.0.1:3100 pulse load loki"])
    load.add_argument("source", choices=["chicago", "worldbank", "oecd", "events", "loki",
                                         "sitemaps"], help="the source to load")
    load.add_argument("--dataset", action="append", metavar="NAME",
                      help="load only this dataset of pipelines/chicago/datasets.yml, or this "
                      "dataflow of pipelines/oecd/dataflows.yml (repeatable)")
    load.set_defaults(func=cmd_load)


def add_sql(sub: argparse._SubParsersAction) -> None:
    sql = add_command(sub, "sql", "SQL over the event lake with DuckDB (views events, "
                      "bad_events, partitioned by dt)",
                      examples=['pulse sql "select dt, count(*) from events group by dt"'])
    sql.add_argument("statement", help="e.g. \"select dt, count(*) from events group by dt\"")
    sql.set_defaults(func=cmd_sql)


def cmd_sql(args: argparse.Namespace) -> int:
    from .events.lake_sql import LakeSqlError, run_sql
    from .events.settings import lake_url

    url = lake_url()
    if not url:
        print("error: the lake is off (PULSE_LAKE_URL=none)", file=sys.stderr)
        return 2
    try:
        columns, rows = run_sql(url, args.statement)
    except LakeSqlError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join("" if v is None else str(v) for v in row))
    return 0


def add_consume(sub: argparse._SubParsersAction) -> None:
    consume = add_command(
        sub, "consume", "copy the Kafka topic the drain feeds into raw_events_stream.events, "
        "offsets committed with the rows (needs PULSE_KAFKA_BOOTSTRAP; docs/events.md#kafka)",
        examples=["PULSE_KAFKA_BOOTSTRAP=127.0.0.1:9092 pulse consume events --follow"])
    consume.add_argument("stream", choices=["events"], help="the stream to copy")
    consume.add_argument("--follow", action="store_true",
                         help="keep consuming until stopped (default: stop once the topic has "
                         "been idle for --idle seconds)")
    consume.add_argument("--idle", type=float, default=5.0, metavar="SECONDS",
                         help="stop after this long without a message")
    consume.set_defaults(func=cmd_consume)


def cmd_consume(args: argparse.Namespace) -> int:
    import signal

    from .events.kafka import STREAM_DATASET, KafkaError, consume, kafka_settings

    settings = kafka_settings()
    if settings is None:
        print("error: Kafka is not configured: set PULSE_KAFKA_BOOTSTRAP to the brokers' "
              "host:port (docs/events.md#kafka)", file=sys.stderr)
        return 2
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    url = roles.url("loader", raw_dataset=STREAM_DATASET)
    step(f"consuming {settings.topic!r} from {settings.bootstrap} into {STREAM_DATASET}.events")
    try:
        result = consume(settings, url, idle_seconds=None if args.follow else args.idle,
                         should_stop=lambda: bool(stopping))
    except KafkaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"{result.messages:,} messages, {result.stored:,} new rows, in "
          f"{result.transactions} transactions, {result.seconds:.1f}s")
    return 0


def add_reset(sub: argparse._SubParsersAction) -> None:
    reset = add_command(sub, "reset", "drop a source's (or one dataset's) raw tables and load "
                        "state: the next load reloads everything",
                        examples=["pulse reset chicago --dataset crimes        # says what it would drop",
                                  "pulse reset chicago --dataset crimes --yes"])
    reset.add_argument("source", choices=["chicago", "worldbank", "oecd"], help="the source")
    reset.add_argument("--dataset", action="append", metavar="NAME",
                       help="only this dataset of pipelines/chicago/datasets.yml, or this "
                       "dataflow of pipelines/oecd/dataflows.yml (repeatable)")
    reset.add_argument("--yes", action="store_true", help="do it (without it: say what it would drop)")
    reset.set_defaults(func=cmd_reset)


def cmd_load(args: argparse.Namespace) -> int:
    if args.source == "events":
        return _drain_events()
    if args.source in ("loki", "sitemaps"):
        return _load_logs(args.source)
    if args.source != "chicago":
        return _load_countries(args)
    from .chicago import SocrataError, load_chicago

    step(f"loading {args.source} into {roles.connection('loader').redacted()}")
    try:
        load_chicago(args.dataset or None, on_loaded=lambda name, rows, seconds: step(
            f"{name}: {rows:,} rows in {seconds:.1f}s"))
    except SocrataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:  # an unknown dataset or a bad declaration (datasets.yml)
        print(f"error: {err}", file=sys.stderr)
        return 2
    # The enriched models join every point to its ZIP code and area: locate the new ones.
    from .geo import BoundariesMissingError, geocode

    try:
        stats = geocode(roles.url("loader"))
    except BoundariesMissingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    step(f"geocoded {stats.points_geocoded:,} new coordinate pairs "
         f"({stats.outside_boundaries:,} outside the boundaries) in {stats.seconds:.1f}s")
    return 0


def source_pipelines(source: str, datasets: list[str] | None) -> list:
    """The dlt pipelines of `source` (one per dataset for chicago and oecd)."""
    if source == "worldbank":
        if datasets:
            raise ValueError("the World Bank is one pipeline: reset it without --dataset")
        from .worldbank import worldbank_pipeline

        return [worldbank_pipeline()]
    if source == "chicago":
        from .chicago import dataset_pipeline as pipeline_of
        from .chicago.settings import load_datasets as declared
    else:
        from .oecd import dataflow_pipeline as pipeline_of
        from .oecd.settings import load_dataflows as declared
    known = declared()
    unknown = sorted(set(datasets or ()) - set(known))
    if unknown:
        raise ValueError(f"{source} has no dataset {', '.join(unknown)}; it has {', '.join(known)}")
    return [pipeline_of(name) for name in (datasets or known)]


def cmd_reset(args: argparse.Namespace) -> int:
    from .reset import reset_pipeline

    try:
        pipelines = source_pipelines(args.source, args.dataset)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    names = ", ".join(p.pipeline_name for p in pipelines)
    if not args.yes:
        print(f"pulse reset {args.source} drops the raw tables and the load state of: {names}.\n"
              "The next load fetches everything again. Run it again with --yes to do it.")
        return 2
    step(f"resetting {names} in {roles.connection('loader').redacted()}")
    for pipeline in pipelines:
        done = reset_pipeline(pipeline)
        print(f"{done.pipeline}: dropped {', '.join(done.tables) or 'no tables'}; "
              f"{done.state_rows} state row(s)")
    return 0


def _drain_events() -> int:
    """`pulse load events`: the collector's spool into raw_events and the lake."""
    from .events import DrainError, drain
    from .events.settings import configured_sinks, drain_settings

    settings = drain_settings()
    sinks = configured_sinks()
    step(f"draining {settings.spool_dir} into {', '.join(s.name for s in sinks)}")
    try:
        result = drain(settings, sinks)
    except DrainError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if result.skipped:
        print(f"nothing drained: {result.skipped}")
        return 0
    print(f"{result.segments} segments, {result.events:,} events and {result.bad_events:,} bad "
          f"events in {result.seconds:.1f}s" + (f"; corrupt, set aside: {result.corrupt}"
                                                 if result.corrupt else ""))
    return 0


def _copy_lines_to_lake() -> None:
    from .events.settings import lake_url
    from .loki.lake import FOLDER, copy_lines_to_lake

    url = lake_url()
    if url is not None:
        copy = copy_lines_to_lake(url, roles.connection("loader"))
        step(f"lake: {copy.lines:,} lines in {copy.hours} hour file(s) rewritten under "
             f"{url.rstrip('/')}/{FOLDER} in {copy.seconds:.1f}s")


def _load_logs(source: str) -> int:
    """`pulse load loki`: the configured LogQL query's new lines into raw_logs; `pulse load
    sitemaps`: the configured sitemaps into raw_logs.sitemap_urls."""
    from dlt.common.configuration.exceptions import ConfigFieldMissingException

    from .load import SourceError, summary
    from .loki import load_loki
    from .sitemaps import load_sitemaps

    step(f"loading {source} into {roles.connection('loader').redacted()}")
    try:
        info = load_loki() if source == "loki" else load_sitemaps()
        step(f"{source}: {summary(info)}")
        if source == "loki":
            from .loki.indexes import index_raw_logs

            index_raw_logs(roles.url("loader"))
            _copy_lines_to_lake()
    except SourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ConfigFieldMissingException as err:
        print(f"error: {source} is not configured: set {', '.join(err.fields)} under "
              f"[sources.{source}] in .dlt/config.toml, or SOURCES__{source.upper()}__"
              f"{err.fields[0].upper()} (docs/logs.md)", file=sys.stderr)
        return 2
    return 0


def _load_countries(args: argparse.Namespace) -> int:
    """`pulse load worldbank|oecd`: what changed upstream since the last load."""
    from .load import summary

    step(f"loading {args.source} into {roles.connection('loader').redacted()}")
    try:
        if args.source == "worldbank":
            from .worldbank import WorldBankError, load_worldbank

            try:
                infos = {"worldbank": load_worldbank()}
            except WorldBankError as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
        else:
            from .oecd import OecdError, load_oecd

            try:
                infos = load_oecd(args.dataset or None)
            except OecdError as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
    except ValueError as err:  # an unknown dataflow or a bad declaration
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, info in infos.items():
        step(f"{name}: {summary(info)}")
    return 0
