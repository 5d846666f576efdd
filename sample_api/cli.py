"""`pulse demo` and `pulse sample-api`: added to the `pulse` command through the
`pulse.commands` entry points (pyproject.toml), since pulse/ may not import this package."""

from __future__ import annotations

import argparse
import os

from pulse.cli import add_command


def add_demo(sub: argparse._SubParsersAction) -> None:
    demo = add_command(sub, "demo", "everything end to end against the local APIs: load, build, "
                       "reports", examples=["pulse demo", "pulse demo --rows 5000"])
    demo.add_argument("--rows", type=int, default=int(os.environ.get("PULSE_DEMO_ROWS", 50_000)),
                      help="synthetic crimes to serve (PULSE_DEMO_ROWS)")
    demo.add_argument("--revision-share", type=float, default=0.01,
                      help="share of rows the local API revises between the two loads")
    demo.set_defaults(func=cmd_demo)


def add_sample_api(sub: argparse._SubParsersAction) -> None:
    api = add_command(sub, "sample-api", "serve the local Socrata-compatible API",
                      examples=["pulse sample-api --rows 10000 --port 8765 &",
                                "SOURCES__CHICAGO__BASE_URL=http://127.0.0.1:8765 pulse load chicago"])
    api.add_argument("--rows", type=int, default=100_000, help="synthetic crimes to serve")
    api.add_argument("--seed", type=int, default=1, help="seed of the generator")
    api.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1")
    api.add_argument("--revisions", type=int, default=0, help="revision batches to apply")
    api.set_defaults(func=cmd_sample_api)


def add_local_apis(sub: argparse._SubParsersAction) -> None:
    """`pulse dev --local-apis`: pulse/cli.py's `dev`, with the demo's local APIs serving
    while it runs (pulse/ may not import this package, so the flag is added from here)."""
    dev = sub.choices["dev"]
    dev.add_argument("--local-apis", action="store_true",
                     help="serve the demo's local Socrata, World Bank, OECD and Loki APIs and "
                          "point every source at them, so runs work offline (the data of the "
                          "last `pulse demo`)")
    dev.add_argument("--rows", type=int, default=int(os.environ.get("PULSE_DEMO_ROWS", 50_000)),
                     help="with --local-apis: synthetic crimes to serve (PULSE_DEMO_ROWS)")
    dev.epilog = (dev.epilog or "") + "\n  pulse dev --local-apis"
    run_dev = dev.get_default("func")

    def cmd_dev(args: argparse.Namespace) -> int:
        if not args.local_apis:
            return run_dev(args)
        from .demo import local_apis, read_state

        with local_apis(args.rows, 0.01, read_state(args.rows)):
            return run_dev(args)  # Dagster's processes inherit the sources' addresses

    dev.set_defaults(func=cmd_dev)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(rows=args.rows, revision_share=args.revision_share)


def cmd_sample_api(args: argparse.Namespace) -> int:
    from .__main__ import main as serve_main

    return serve_main(
        ["--rows", str(args.rows), "--seed", str(args.seed), "--port", str(args.port),
         "--revisions", str(args.revisions)]
    )
