"""`pulse collect`: serve the collector. Added to `pulse` through the `pulse.commands` entry
points (pyproject.toml), since pulse/ may not import the layers above it."""

from __future__ import annotations

import argparse
import sys

from pulse.cli import add_command


def add_collect(sub: argparse._SubParsersAction) -> None:
    collect = add_command(sub, "collect", "serve the event collector (Segment's HTTP API and "
                          "/v1/event) on 127.0.0.1", examples=[
                              "PULSE_COLLECTOR_WRITE_KEYS=wk_live_xxx=web pulse collect",
                              "pulse load events   # drain what it accepted"])
    collect.add_argument("--host", default="127.0.0.1",
                         help="address to bind (0.0.0.0 exposes it)")
    collect.add_argument("--port", type=int, default=8088, help="port to listen on")
    collect.set_defaults(func=cmd_collect)


def cmd_collect(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import CollectorApp
    from .settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    app = CollectorApp(settings)
    print(f"collector on http://{args.host}:{args.port}, spool {settings.spool_dir}, "
          f"sources {', '.join(sorted(set(settings.write_keys.values())))}", flush=True)
    # One process, one event loop: the spool's group commit lives in this process, and the
    # spool folder's lock refuses a second collector on the same folder.
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools",
                lifespan="on", access_log=False, log_level="warning")
    return 0
