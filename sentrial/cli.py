"""The ``sentrial`` command line. Each subcommand is a ``_add_<name>`` function that registers its
parser and sets ``run`` to the function carrying it out."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable, Sequence


def _serve(args: argparse.Namespace) -> int:
    from sentrial.server import LocalServer

    try:
        server = LocalServer(
            host=args.host,
            port=args.port,
            db=args.db,
            api_key=args.api_key,
            delay_ms=args.delay_ms,
            verbose=args.verbose,
        )
    except (OSError, sqlite3.Error) as exc:
        print(f"sentrial serve: {exc}", file=sys.stderr)
        return 1
    print(f"Sentrial local server on {server.url} (database: {args.db}); Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _add_serve(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the local Sessions API server and its web page")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument("--db", default="sentrial-local.db", help="SQLite file (default: %(default)s)")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on /api/sdk/*")
    parser.add_argument(
        "--delay-ms", type=float, default=0, help="delay every answer, to imitate a remote service"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    parser.set_defaults(run=_serve)


def _demo(args: argparse.Namespace) -> int:
    from sentrial.demo import main as run_demo

    return run_demo(serve=args.serve, port=args.port)


def _add_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="run a small support agent against the embedded local server and show what it received"
    )
    parser.add_argument("--serve", action="store_true", help="keep the server and its page up afterwards")
    parser.add_argument("--port", type=int, default=0, help="port of the server, 0 for any free one")
    parser.set_defaults(run=_demo)


_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    _add_serve,
    _add_demo,
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="sentrial", description="Sentrial SDK tools.")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sentrial`` command on ``argv`` (default: the process's arguments); returns its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
