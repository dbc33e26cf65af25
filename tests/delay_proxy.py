"""A TCP proxy on 127.0.0.1 that holds the bytes in each direction for a while: a distant server.

The local server's ``--delay-ms`` delays each answer in its handler, which models a slow server:
requests pipelined on one connection then wait for each other. Distance is different: every byte
takes its time on the way, but many are on the way at once. This proxy forwards each chunk it
reads ``delay_s`` after it read it, in order, in both directions, without waiting for the chunks
before it to arrive: a round trip through it takes twice ``delay_s``, and neither connections nor
the requests on one are serialised. It runs an asyncio loop on a thread of its own (``start()``),
or as a child process: ``python tests/delay_proxy.py http://127.0.0.1:PORT --delay-ms 10`` prints
``delay proxy on http://127.0.0.1:PORT`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from urllib.parse import urlsplit

_CHUNK = 65_536
_START_TIMEOUT_S = 10.0


class DelayProxy:
    """Forwards 127.0.0.1:``port`` to ``target_url``'s host and port, each byte ``delay_s`` late."""

    def __init__(self, target_url: str, delay_s: float = 0.010) -> None:
        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay_s = delay_s
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.connections = 0  # connections accepted so far

    @property
    def url(self) -> str:
        """The proxy's base URL, to use in place of the target's."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DelayProxy:
        """Listen on a free port and forward from a daemon thread; returns self."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="delay-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("the delay proxy did not start")
        return self

    def stop(self) -> None:
        """Stop listening and end every forwarded connection."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._thread = None

    def serve_forever(self) -> None:
        """Listen and forward from the calling thread, printing the URL first."""
        self._loop.run_until_complete(self._listen())
        print(f"delay proxy on {self.url}", flush=True)
        self._loop.run_forever()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            if self._server is not None:
                self._server.close()
            for writer in self._open:
                _close(writer, b"")
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _connect(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_in, server_out = await asyncio.open_connection(*self._target)
        except OSError:
            client_out.close()
            return
        self._open.update((client_out, server_out))
        try:
            await asyncio.gather(self._pump(client_in, server_out), self._pump(server_in, client_out))
        finally:
            self._open.difference_update((client_out, server_out))

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Forward each chunk ``delay_s`` after it was read; the end of the stream as late."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                chunk = await source.read(_CHUNK)
            except (OSError, asyncio.IncompleteReadError):
                chunk = b""
            due = loop.time() + self.delay_s
            # Timers due at the same time run in the order they were set: the bytes keep theirs.
            loop.call_at(due, _forward if chunk else _close, sink, chunk)
            if not chunk:
                return


def _forward(sink: asyncio.StreamWriter, chunk: bytes) -> None:
    if not sink.is_closing():
        sink.write(chunk)


def _close(sink: asyncio.StreamWriter, _: bytes) -> None:
    # One side ended: end the other too (a kept-alive HTTP connection has nothing left to carry).
    with contextlib.suppress(OSError):
        sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("target", help="the server's base URL, e.g. http://127.0.0.1:8765")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="each direction (default 10)")
    args = parser.parse_args()
    try:
        DelayProxy(args.target, args.delay_ms / 1000).serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
