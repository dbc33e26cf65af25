"""The ``sentrial`` command line. Each subcommand is a ``_add_<name>`` function that registers its
parser and sets ``run`` to the function carrying it out (and ``command_parser`` to its parser).

What goes wrong at run time (a port that cannot be listened on, a database that cannot be opened)
is one line on stderr, ``sentrial COMMAND: message``, and exit code 1; a wrong command line shows the
usage of the command at hand and exits with 2. Ctrl-C ends any command, once it has delivered and
closed what it holds, with ``sentrial COMMAND: interrupted`` and exit code 130 (128 + SIGINT), as
shells report an interrupted program. A reader that stops early (``sentrial demo | head``) ends the
command quietly with exit code 141 (128 + SIGPIPE), as other command-line tools do."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence

from sentrial import __version__
from sentrial.experiment_cli import add_experiment

_INTERRUPTED = 130
_READER_GONE = 141


def _fail(command: str, error: BaseException) -> int:
    print(f"sentrial {command}: {error}", file=sys.stderr)
    return 1


def _serve(args: argparse.Namespace) -> int:
    from sentrial.server import LocalServer

    try:
        server = LocalServer(  # keyword forwarding: alike in shape only to other such calls
            host=args.host,
            port=args.port,
            db=args.db,
            api_key=args.api_key,
            delay_ms=args.delay_ms,
            verbose=args.verbose,
        )
    except (OSError, sqlite3.Error) as exc:
        return _fail("serve", exc)
    print(f"Sentrial local server on {server.url} (database: {args.db}); Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()  # ends by Ctrl-C only: main reports it
    finally:
        server.stop()
    return 0


def _add_serve(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the local Sessions API server and its web page")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--db", metavar="FILE", default="sentrial-local.db", help="SQLite file (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="require KEY: the API (/api/sdk/*) as 'Authorization: Bearer KEY'; the pages ask for it in"
        " a sign-in form (a cookie then keeps the browser signed in) or take the same header",
    )
    parser.add_argument(
        "--delay-ms", type=float, default=0, help="delay every answer, to imitate a remote service"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    parser.set_defaults(run=_serve, command_parser=parser)


def _demo(args: argparse.Namespace) -> int:
    from sentrial.demo import main as run_demo
    from sentrial.server import ListenError

    try:
        return run_demo(serve=args.serve, port=args.port, db=args.db)
    except (ListenError, sqlite3.Error) as exc:
        return _fail("demo", exc)


def _add_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="run a small support agent against the embedded local server and show what it received"
    )
    parser.add_argument("--serve", action="store_true", help="keep the server and its page up afterwards")
    parser.add_argument("--port", type=int, default=0, help="port of the server, 0 for any free one")
    parser.add_argument(
        "--db",
        metavar="FILE",
        default=":memory:",
        help="keep what the server receives in this SQLite file, to browse it later with"
        " 'sentrial serve --db FILE' (default: in memory only)",
    )
    parser.set_defaults(run=_demo, command_parser=parser)


def _relay(args: argparse.Namespace) -> int:
    from sentrial.relay import Relay, RelayServer
    from sentrial.server import ListenError

    relay = Relay(api_url=args.api_url, api_key=args.api_key, pii=args.pii, quiet_s=args.quiet_s)
    try:
        server = RelayServer(relay, host=args.host, port=args.port, verbose=args.verbose)
    except ListenError as exc:
        relay.close(0)
        return _fail("relay", exc)
    print(
        f"Sentrial relay: OTLP/HTTP on {server.url}/v1/traces -> {relay.exporter.api_url}; Ctrl-C to stop",
        flush=True,
    )
    try:
        try:
            server.serve_forever(0.05)  # ends by Ctrl-C only
        finally:
            server.server_close()
            relay.close(10)
    except KeyboardInterrupt:  # main's one line says what was delivered
        raise KeyboardInterrupt(f"stopped: {json.dumps(relay.stats())}") from None
    return 0


def _add_relay(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "relay", help="receive OTLP/HTTP traces from any OpenTelemetry pipeline and send them to Sentrial"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=4318, help="port, 0 for any free one (default: %(default)s, OTLP/HTTP's)"
    )
    parser.add_argument("--api-url", metavar="URL", help="Sessions API (default: $SENTRIAL_API_URL)")
    parser.add_argument("--api-key", metavar="KEY", help="API key (default: $SENTRIAL_API_KEY)")
    parser.add_argument("--pii", action="store_true", help="redact PII (emails, cards, ...) before sending")
    parser.add_argument(
        "--quiet-s",
        type=float,
        default=30.0,
        help="complete a trace whose root span never came after this many seconds without a span"
        " (default: %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    parser.set_defaults(run=_relay, command_parser=parser)


_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    _add_serve,
    _add_demo,
    _add_relay,
    add_experiment,
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="sentrial", description="Sentrial SDK tools.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sentrial`` command on ``argv`` (default: the process's arguments); returns its exit code."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # The command's own usage, which lists the options it does take.
        command_parser: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        result: int = args.run(args)
    except KeyboardInterrupt as stop:
        # The command cleaned up on its way out (its finally blocks); what it has to say comes along.
        detail = f"; {stop}" if str(stop) else ""
        command = getattr(args, "command_parser", parser).prog.removeprefix(f"{parser.prog} ")
        print(f"sentrial {command}: interrupted{detail}", file=sys.stderr, flush=True)
        return _INTERRUPTED
    except BrokenPipeError:
        # Whoever read stdout has stopped reading. Point stdout at nothing, so that the flush at
        # the interpreter's exit does not raise the same error again.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (it must outlive this call)
        return _READER_GONE
    return result


if __name__ == "__main__":
    sys.exit(main())
