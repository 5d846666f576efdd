"""`pulse`: the command line of the warehouse. `pulse --help` lists the commands."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path

from pulse import locks, roles, warehouse
from pulse.dbt import (
    BUILD_LOCK,
    BUILDING_COMMANDS,
    DBT_ROLE,
    check_before_build,
    dbt_command,
    dbt_env,
    export_dbt_env,
    target_dir,
)
from pulse.warehouse import PROJECT_ROOT

log = logging.getLogger("pulse")
# Entry point group of commands that other packages add: a function taking the subparsers.
COMMANDS_GROUP = "pulse.commands"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help (unless it has none, or the help says it);
    the examples below a command as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text \
                or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".lstrip()


def add_command(sub: argparse._SubParsersAction, name: str, summary: str, *,
                examples: Sequence[str] = (), details: str = "") -> argparse.ArgumentParser:
    """A `pulse` subcommand whose --help says what it does, each option's default, and how
    it is used. Also for the commands the layers above add (their entry points)."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None
    first = summary if summary.startswith("dbt") else f"{summary[:1].upper()}{summary[1:]}"
    description = f"{first}." + (f"\n\n{details}" if details else "")
    return sub.add_parser(name, help=summary, description=description, epilog=epilog,
                          formatter_class=HelpFormatter)


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
        print(roles.url(args.role))
    elif args.action == "env":
        # eval "$(pulse db env)" points psql and a bare `dbt` at the warehouse; as the
        # transformer, with every variable `pulse build` gives dbt, so that a bare dbt
        # reuses the same parse (pulse/dbt.py, PARSE_VARIABLES).
        conn = roles.connection(args.role)
        variables = dbt_env(conn) if args.role == DBT_ROLE else conn.libpq_env()
        for key, value in variables.items():
            # quoted for the shell: a ' or $( in a password stays a password under eval
            print(f"export {key}={shlex.quote(value)}")
    elif args.action == "psql":
        # A session that may do the least by default: the analyst's (`--role admin` for more);
        # a superuser's psql runs whatever a raw schema's owner has put there.
        conn = roles.connection(args.role or "analyst")
        os.environ.update(conn.libpq_env())
        psql = warehouse.psql_executable()
        os.execv(psql, [psql, *args.rest])
    elif args.action == "roles":
        return cmd_db_roles(set_passwords=args.set_passwords)
    return 0


def cmd_db_roles(set_passwords: bool = False) -> int:
    """`pulse db roles`: creates what is missing, then says who may do what."""
    admin = warehouse.connection()
    if not roles.roles_enabled():
        print(f"PULSE_ROLES=off: every step runs as {admin.redacted()}")
        return 0
    step(f"roles in {admin.redacted()}")
    changes = roles.ensure_roles(admin=admin, set_passwords=set_passwords)
    for statement in changes:
        print(f"  {statement}")
    print(f"{len(changes)} change(s)" if changes else "nothing to change")
    described = roles.describe(admin.database)
    for key in warehouse.ROLES:
        name = roles.role(key).name(admin.database)
        print(f"\n{name}: {described[name]}")
        try:
            print(f"  url: {roles.connection(key).redacted()}"
                  f"  (pulse db url --role {key})")
        except warehouse.WarehouseError as err:
            print(f"  {err}")
    return 0


# --- load / build / docs ----------------------------------------------------------------------


def run_child(argv: Sequence[str]) -> int:
    """Runs a command in the project root and returns its exit code. SIGTERM and SIGHUP
    sent to `pulse` are passed on to it: a supervisor stopping `pulse dev` or `pulse docs`
    must not leave their servers running. (Ctrl-C reaches the child by itself: it is in
    the terminal's process group.)"""
    child = subprocess.Popen(argv, cwd=PROJECT_ROOT)
    forward = {sig: signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
               for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # the child got the same Ctrl-C: wait for it to stop
                continue
    finally:
        for sig, handler in forward.items():
            signal.signal(sig, handler)


def run_dbt(*dbt_args: str) -> int:
    """Runs the dbt CLI against the warehouse, as the transformer; returns its exit code."""
    conn = export_dbt_env()
    if dbt_args[:1] and dbt_args[0] in BUILDING_COMMANDS:
        with locks.exclusive(conn.url(), BUILD_LOCK):
            check_before_build(conn)
            return run_child(dbt_command(*dbt_args))
    return run_child(dbt_command(*dbt_args))


# dbt only warns, and exits 0, when --select matches nothing: a typo would look like a
# build that passed.
NO_MATCH_IS_AN_ERROR = ["--warn-error-options", '{"error": ["NoNodesForSelectionCriteria"]}']


def cmd_build(args: argparse.Namespace) -> int:
    step("dbt build")
    return run_dbt("build", *NO_MATCH_IS_AN_ERROR, *args.dbt_args)


def cmd_docs(args: argparse.Namespace) -> int:
    step("dbt docs generate")
    if code := run_dbt("docs", "generate"):
        return code
    if args.no_serve:
        print(f"docs written to {target_dir() / 'index.html'}")
        return 0
    step(f"serving dbt docs on http://127.0.0.1:{args.port} (Ctrl-C stops)")
    return run_dbt("docs", "serve", "--host", "127.0.0.1", "--port", str(args.port), "--no-browser")


def cmd_reports(args: argparse.Namespace) -> int:
    """`pulse reports`: every rpt_ mart as CSV, Parquet and JSON, read as the analyst."""
    from pulse.dbt import prepare_dbt
    from pulse.reports import ReportError, export_all, reports_dir, write_index

    # As the analyst, who may run this with only its own URL (PULSE_ANALYST_URL);
    # prepare_dbt may run `dbt parse`, which reads the PG* variables but connects to nothing,
    # as a reader: the builds' partial parse stays theirs.
    roles.export_env("analyst")
    out_dir = Path(args.out).resolve() if args.out else reports_dir()
    step(f"exporting the report marts to {out_dir}")
    try:
        written, failed = export_all(prepare_dbt(reader=True), out_dir)
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


def cmd_serve(args: argparse.Namespace) -> int:
    """`pulse serve`: the portal, the report API, /health and /metrics (pulse/serve/)."""
    import uvicorn

    from pulse.dbt import load_manifest, prepare_dbt
    from pulse.reports import report_models_in, reports_dir
    from pulse.serve.app import RATE_ENV, ServeConfig, SettingsError, api_keys, create_app

    try:
        keys = api_keys()
        rate = int(os.environ.get(RATE_ENV) or 600)
    except (SettingsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    analyst = roles.export_env("analyst")  # the manifest is read as a reader, too
    manifest = load_manifest(prepare_dbt(reader=True))
    portal = Path(args.reports).resolve() if args.reports else reports_dir()
    config = ServeConfig(analyst=analyst, monitor=roles.connection(DBT_ROLE), manifest=manifest,
                         models=tuple(report_models_in(manifest)), portal_dir=portal,
                         keys=keys, rate_per_minute=rate)
    base = f"http://{args.host}:{args.port}"
    step(f"portal {base}/ ({portal}), report API {base}/api/v1/reports "
         f"({len(keys)} API key(s)), {base}/health, {base}/metrics")
    if not keys:
        print("  no API keys: set PULSE_API_KEYS=key=name,... for the report API",
              file=sys.stderr)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning",
                access_log=False)
    return 0


def cmd_crawler_ranges(args: argparse.Namespace) -> int:
    from pulse import crawler_ranges

    try:
        lists = crawler_ranges.refresh()
    except (OSError, ValueError) as err:  # URLError is an OSError; a bad list a ValueError
        print(f"error: the crawler ranges were not refreshed ({err}); the seed is unchanged",
              file=sys.stderr)
        return 1
    for ranges in lists:
        step(f"{ranges.crawler}: {len(ranges.networks)} ranges published {ranges.published_on}")
    step(f"wrote {crawler_ranges.SEED.relative_to(PROJECT_ROOT)}; load it with "
         "`pulse build --select crawler_ip_ranges+`")
    return 0


# --- Dagster ---------------------------------------------------------------------------------


# Every pool (one per load, one for dbt, one for geocoding) runs one step at a time:
# a second run's step waits in Dagster's queue instead of racing the first.
DAGSTER_INSTANCE = {"telemetry": {"enabled": False}, "concurrency": {"pools": {"default_limit": 1}}}


def dagster_home() -> Path:
    """The Dagster instance `pulse dev` and `pulse demo` share: DAGSTER_HOME, else .dagster/
    in the checkout (set in the environment, for Dagster and its children)."""
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster"))
    return Path(os.environ["DAGSTER_HOME"])


def write_dagster_yaml(home: Path) -> Path:
    """The instance's dagster.yaml, with what Pulse needs added to what is there."""
    import yaml

    path = home / "dagster.yaml"
    home.mkdir(parents=True, exist_ok=True)
    config = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    pools = config.setdefault("concurrency", {}).setdefault("pools", {})
    if "default_limit" not in pools:
        pools["default_limit"] = DAGSTER_INSTANCE["concurrency"]["pools"]["default_limit"]
        config.setdefault("telemetry", DAGSTER_INSTANCE["telemetry"])
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def cmd_dev(args: argparse.Namespace) -> int:
    from pulse.dbt import prepare_dbt

    # Dagster's dbt runs as the transformer; dlt asks for the loader itself. The manifest is
    # parsed as the transformer too, so that every run's dbt reuses that parse.
    prepare_dbt(conn=export_dbt_env())
    write_dagster_yaml(dagster_home())
    dagster = Path(sys.executable).with_name("dagster")
    # dagster-dbt looks for `dbt` on PATH when it re-parses the project under `dagster dev`.
    os.environ["PATH"] = f"{dagster.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    step(f"Dagster UI on http://{args.host}:{args.port}")
    return run_child([str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
                      "-h", args.host, "-p", str(args.port)])


# --- parser ---------------------------------------------------------------------------------


def pulse_version() -> str:
    try:
        return version("pulse-warehouse")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pulse", description=__doc__, formatter_class=HelpFormatter,
                                epilog="`pulse COMMAND --help` says more, with examples.")
    p.add_argument("--version", action="version", version=f"%(prog)s {pulse_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    db = add_command(sub, "db", "the warehouse: start|stop|status|url|env|psql|roles", examples=[
        "pulse db status          # embedded or WAREHOUSE_URL, running or not (no password)",
        "pulse db psql            # psql as the analyst, who reads the marts",
        "pulse db url --role loader",
        'eval "$(pulse db env)"   # psql and a bare dbt as the transformer',
        "pulse db roles --set-passwords"])
    db.add_argument("--role", choices=["admin", *warehouse.ROLES], default=None,
                    help="url/env/psql as this role (default: admin, WAREHOUSE_URL's user; "
                    "psql: analyst)")
    db.add_argument("--set-passwords", action="store_true",
                    help="roles: set each role's password from PULSE_<ROLE>_PASSWORD (an "
                    "existing role's password is otherwise never changed)")
    db.add_argument("action", choices=["start", "stop", "status", "url", "env", "psql", "roles"],
                    help="what to do")
    db.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to psql")
    db.set_defaults(func=cmd_db)

    build = add_command(
        sub, "build", "dbt build as the transformer; other options go to dbt",
        details="A --select that matches no model, seed or test is an error (exit 2).",
        examples=["pulse build", "pulse build --select staging.chicago+",
                  "pulse build --select rpt_countries__top10 --full-refresh"])
    build.set_defaults(func=cmd_build, passes_extra_args=True)

    docs = add_command(sub, "docs", "generate and serve the dbt docs site on 127.0.0.1",
                       examples=["pulse docs", "pulse docs --no-serve --port 8081"])
    docs.add_argument("--port", type=int, default=8080, help="port to serve on")
    docs.add_argument("--no-serve", action="store_true", help="only generate")
    docs.set_defaults(func=cmd_docs)

    reports = add_command(sub, "reports", "every report mart as CSV, Parquet and JSON, with an "
                          "index.html (read as the analyst)",
                          examples=["pulse reports", "pulse reports --out /srv/reports",
                                    "pulse reports --country JPN --country BRA"])
    reports.add_argument("--out", help="the folder (default: PULSE_REPORTS_DIR, else reports/)")
    reports.add_argument("--country", action="append", metavar="ISO3",
                         help="write the per-country CSV of this country only (repeatable; "
                         "default: every country)")
    reports.set_defaults(func=cmd_reports)

    serve = add_command(
        sub, "serve", "serve the portal, the read-only report API, /health and /metrics",
        details="The API needs a key: PULSE_API_KEYS=key=name,... and `Authorization: "
        "Bearer key`; docs/reports.md#the-report-api.",
        examples=["PULSE_API_KEYS=$(openssl rand -hex 16)=me pulse serve",
                  "curl -H 'Authorization: Bearer KEY' "
                  "'http://127.0.0.1:8000/api/v1/reports/rpt_countries__top10?metric=gdp_usd'",
                  "curl http://127.0.0.1:8000/health"])
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 exposes it)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--reports", help="the portal's folder (default: PULSE_REPORTS_DIR, "
                       "else reports/)")
    serve.set_defaults(func=cmd_serve)

    ranges = add_command(sub, "crawler-ranges", "download Google's and Bing's published crawler "
                         "IP ranges into the seed crawler_ip_ranges (needs internet)",
                         examples=["pulse crawler-ranges && pulse build --select "
                                   "crawler_ip_ranges+"])
    ranges.set_defaults(func=cmd_crawler_ranges)

    dev = add_command(sub, "dev", "the Dagster UI and daemon (binds to 127.0.0.1)",
                      examples=["pulse dev", "pulse dev --port 3001"])
    dev.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 exposes it)")
    dev.add_argument("--port", type=int, default=3000, help="port of the UI")
    dev.set_defaults(func=cmd_dev)

    # Commands of the packages above this one (`pulse demo`, `pulse sample-api` from
    # sample_api/): registered as entry points, so the floor never imports them.
    for command in entry_points(group=COMMANDS_GROUP):
        command.load()(sub)
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
