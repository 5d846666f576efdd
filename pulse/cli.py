"""`pulse`: the command line of the warehouse. `pulse --help` lists the commands."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pulse import warehouse
from pulse.dbt import dbt_command, export_dbt_env
from pulse.warehouse import PROJECT_ROOT

log = logging.getLogger("pulse")


def step(message: str) -> None:
    """Progress line for long commands."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- db --------------------------------------------------------------------------------


def _db_role_after_action(args: argparse.Namespace) -> int:
    """`pulse db url --role analyst`: the role may follow the action too (psql's own
    arguments come after it)."""
    rest = list(args.rest)
    if rest[:1] == ["--role"] and len(rest) > 1:
        args.role, rest = rest[1], rest[2:]
    elif rest and rest[0].startswith("--role="):
        args.role, rest = rest[0].split("=", 1)[1], rest[1:]
    args.rest = rest
    if args.role not in (None, "admin", *warehouse.ROLES):
        print(f"unknown role {args.role!r}; roles: admin, {', '.join(warehouse.ROLES)}",
              file=sys.stderr)
        return 2
    if rest and args.action != "psql":
        print(f"pulse db {args.action}: unrecognized arguments: {' '.join(rest)}", file=sys.stderr)
        return 2
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    if code := _db_role_after_action(args):
        return code
    if args.action == "start":
        step("starting the warehouse")
        print(warehouse.connection().redacted())
    elif args.action == "stop":
        if not warehouse.is_embedded():
            print("WAREHOUSE_URL is set: Pulse does not stop servers it did not start.")
        elif warehouse.stop():
            print("embedded PostgreSQL stopped")
        else:
            print("embedded PostgreSQL was not running")
    elif args.action == "status":
        for key, value in warehouse.status().items():
            print(f"{key}: {value}")
    elif args.action == "url":
        print(warehouse.url(role=args.role))
    elif args.action == "env":
        # eval "$(pulse db env)" points psql and a bare `dbt` at the warehouse.
        for key, value in warehouse.connection(role=args.role).libpq_env().items():
            print(f"export {key}='{value}'")
    elif args.action == "psql":
        conn = warehouse.connection(role=args.role)
        os.environ.update(conn.libpq_env())
        psql = warehouse.psql_executable()
        os.execv(psql, [psql, *args.rest])
    elif args.action == "roles":
        return cmd_db_roles()
    return 0


def cmd_db_roles() -> int:
    """`pulse db roles`: creates what is missing, then says who may do what."""
    from pulse import roles

    admin = warehouse.connection()
    if not roles.roles_enabled():
        print(f"PULSE_ROLES=off: every step runs as {admin.redacted()}")
        return 0
    step(f"roles in {admin.redacted()}")
    changes = roles.ensure_roles()
    for statement in changes:
        print(f"  {statement}")
    print(f"{len(changes)} change(s)" if changes else "nothing to change")
    described = roles.describe()
    for key in warehouse.ROLES:
        role = roles.role(key)
        print(f"\n{role.name}: {described[role.name]}")
        try:
            print(f"  url: {warehouse.connection(role=key).redacted()}"
                  f"  (pulse db url --role {key})")
        except warehouse.WarehouseError as err:
            print(f"  {err}")
    return 0


# --- sample API ---------------------------------------------------------------------------


def cmd_sample_api(args: argparse.Namespace) -> int:
    from pulse.sample_api.__main__ import main as serve_main

    return serve_main(
        ["--rows", str(args.rows), "--seed", str(args.seed), "--port", str(args.port),
         "--revisions", str(args.revisions)]
    )


# --- load / build / docs ----------------------------------------------------------------------


def cmd_load(args: argparse.Namespace) -> int:
    if args.source != "chicago":
        return _load_countries(args)
    from pipelines.chicago import SocrataError, load_chicago

    step(f"loading {args.source} into {warehouse.connection(role='loader').redacted()}")
    try:
        infos = load_chicago(args.dataset or None)
    except SocrataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for name, info in infos.items():
        print(f"{name}: {info}")
    # The enriched models join every point to its ZIP code and area: locate the new ones.
    from pipelines.geo import BoundariesMissingError, geocode

    try:
        stats = geocode(warehouse.url(role="loader"))
    except BoundariesMissingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    step(f"geocoded {stats.points_geocoded:,} new coordinate pairs "
         f"({stats.outside_boundaries:,} outside the boundaries) in {stats.seconds:.1f}s")
    return 0


def _load_countries(args: argparse.Namespace) -> int:
    """`pulse load worldbank|oecd`: what changed upstream since the last load."""
    step(f"loading {args.source} into {warehouse.connection(role='loader').redacted()}")
    try:
        if args.source == "worldbank":
            from pipelines.worldbank import WorldBankError, load_worldbank

            try:
                infos = {"worldbank": load_worldbank()}
            except WorldBankError as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
        else:
            from pipelines.oecd import OecdError, load_oecd

            try:
                infos = load_oecd(args.dataset or None)
            except OecdError as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
    except ValueError as err:  # an unknown dataflow or a bad declaration
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, info in infos.items():
        print(f"{name}: {info}")
    return 0


def run_dbt(*dbt_args: str) -> int:
    """Runs the dbt CLI against the warehouse, as the transformer; returns its exit code."""
    export_dbt_env()
    return subprocess.call(dbt_command(*dbt_args), cwd=PROJECT_ROOT)


def cmd_build(args: argparse.Namespace) -> int:
    step("dbt build")
    return run_dbt("build", *args.dbt_args)


def cmd_docs(args: argparse.Namespace) -> int:
    step("dbt docs generate")
    if code := run_dbt("docs", "generate"):
        return code
    if args.no_serve:
        print(f"docs written to {PROJECT_ROOT / 'target' / 'index.html'}")
        return 0
    step(f"serving dbt docs on http://127.0.0.1:{args.port} (Ctrl-C stops)")
    return run_dbt("docs", "serve", "--host", "127.0.0.1", "--port", str(args.port), "--no-browser")


def cmd_reports(args: argparse.Namespace) -> int:
    """`pulse reports`: every rpt_ mart as CSV, Parquet and JSON, read as the analyst."""
    from orchestration.defs.project import prepare_dbt
    from pulse.reports import ReportError, export_all, reports_dir, write_index

    export_dbt_env()  # prepare_dbt may run `dbt parse`, which reads the PG* variables
    out_dir = Path(args.out).resolve() if args.out else reports_dir()
    step(f"exporting the report marts to {out_dir}")
    try:
        written, failed = export_all(prepare_dbt(), out_dir)
    except ReportError as err:  # no manifest
        written, failed = [], [err]
    for report in written:
        print(f"{report.name}: {report.row_count:,} rows")
    if any(r.name.startswith("rpt_countries__") for r in written):
        from pulse.country_reports import export_country_reports

        try:
            countries = export_country_reports(args.country, out_dir)
            write_index(out_dir)
            print(f"countries/: {len(countries.countries)} per-country CSV files")
        except ReportError as err:
            failed.append(err)
    for err in failed:
        print(f"error: {err}", file=sys.stderr)
    print(f"index: {out_dir / 'index.html'}")
    return 1 if failed else 0


# --- Dagster ---------------------------------------------------------------------------------


def cmd_dev(args: argparse.Namespace) -> int:
    from orchestration.defs.project import prepare_dbt

    export_dbt_env()  # Dagster's dbt runs as the transformer; dlt asks for the loader itself
    prepare_dbt()
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster"))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).with_name("dagster")
    # dagster-dbt looks for `dbt` on PATH when it re-parses the project under `dagster dev`.
    os.environ["PATH"] = f"{dagster.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    step(f"Dagster UI on http://{args.host}:{args.port}")
    return subprocess.call(
        [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
         "-h", args.host, "-p", str(args.port)],
        cwd=PROJECT_ROOT,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from pulse.demo import run_demo

    return run_demo(rows=args.rows, revision_share=args.revision_share)


# --- parser ---------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pulse", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the warehouse: start|stop|status|url|env|psql|roles")
    db.add_argument("--role", choices=["admin", *warehouse.ROLES], default=None,
                    help="url/env/psql as this role (default: admin, WAREHOUSE_URL's user)")
    db.add_argument("action", choices=["start", "stop", "status", "url", "env", "psql", "roles"])
    db.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to psql")
    db.set_defaults(func=cmd_db)

    api = sub.add_parser("sample-api", help="serve the local Socrata-compatible API")
    api.add_argument("--rows", type=int, default=100_000)
    api.add_argument("--seed", type=int, default=1)
    api.add_argument("--port", type=int, default=8765)
    api.add_argument("--revisions", type=int, default=0, help="revision batches to apply")
    api.set_defaults(func=cmd_sample_api)

    load = sub.add_parser("load", help="run one source's dlt pipeline (incremental)")
    load.add_argument("source", choices=["chicago", "worldbank", "oecd"])
    load.add_argument("--dataset", action="append", metavar="NAME",
                      help="load only this dataset of pipelines/chicago/datasets.yml, or this "
                      "dataflow of pipelines/oecd/dataflows.yml (repeatable)")
    load.set_defaults(func=cmd_load)

    build = sub.add_parser("build", help="dbt build; other options go to dbt (--select ...)")
    build.set_defaults(func=cmd_build, passes_extra_args=True)

    docs = sub.add_parser("docs", help="generate and serve the dbt docs site on 127.0.0.1")
    docs.add_argument("--port", type=int, default=8080)
    docs.add_argument("--no-serve", action="store_true", help="only generate")
    docs.set_defaults(func=cmd_docs)

    reports = sub.add_parser("reports", help="every report mart as CSV, Parquet and JSON, "
                             "with an index.html (read as the analyst)")
    reports.add_argument("--out", help="the folder (default: PULSE_REPORTS_DIR, else reports/)")
    reports.add_argument("--country", action="append", metavar="ISO3",
                         help="write the per-country CSV of this country only (repeatable; "
                         "default: every country)")
    reports.set_defaults(func=cmd_reports)

    demo = sub.add_parser("demo", help="everything end to end against the local API")
    demo.add_argument("--rows", type=int, default=int(os.environ.get("PULSE_DEMO_ROWS", 50_000)))
    demo.add_argument("--revision-share", type=float, default=0.01)
    demo.set_defaults(func=cmd_demo)

    dev = sub.add_parser("dev", help="the Dagster UI (binds to 127.0.0.1)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=cmd_dev)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Libraries (Dagster, dagster-dbt) set their own loggers to INFO: filter at the handler.
    logging.getLogger().handlers[0].setLevel(logging.WARNING)
    # dlt reads .dlt/config.toml from the working directory: always the project's.
    os.chdir(PROJECT_ROOT)
    cli = parser()
    # `pulse build --select x`: options pulse does not know are dbt's
    args, extra = cli.parse_known_args(argv)
    if extra and not getattr(args, "passes_extra_args", False):
        cli.error(f"unrecognized arguments: {' '.join(extra)}")
    args.dbt_args = [a for a in extra if a != "--"]
    try:
        return args.func(args)
    except warehouse.WarehouseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
