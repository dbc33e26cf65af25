"""LocalServer: the local Sessions API server's lifecycle and its hooks for tests and benchmarks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sentrial.server.handler import HTTPServer
from sentrial.server.state import State
from sentrial.server.store import Store

_STOP_TIMEOUT = 5.0
# How often serve_forever looks for a stop request: bounds how long stop() takes.
_POLL_INTERVAL = 0.05
_Server = TypeVar("_Server")


class ListenError(OSError):
    """The server cannot listen on its host and port; the message names both and says why."""

    def __init__(self, address: str, reason: str, errno: int | None = None) -> None:
        super().__init__(f"cannot listen on {address}: {reason}")
        self.errno = errno


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listening(host: str, port: int, make: Callable[[tuple[str, int]], _Server]) -> _Server:
    """``make((host, port))``, a server that binds on construction; ListenError naming both if it
    cannot listen there."""
    if not 0 <= port <= 65535:
        # bind() would raise OverflowError, which names neither.
        raise ListenError(_address(host, port), "the port must be between 0 and 65535")
    try:
        return make((host, port))
    except OSError as exc:
        raise ListenError(_address(host, port), exc.strerror or str(exc), exc.errno) from exc


def _listen(host: str, port: int) -> HTTPServer:
    return listening(host, port, HTTPServer)


class LocalServer:
    """A Sessions API server on ``host:port`` (port 0: any free port) that keeps its data in SQLite.

    The socket is bound and then the database opened on construction, so ``url`` is known at once and
    a server that cannot listen (ListenError) creates no database file.
    ``start()`` serves from a background daemon thread, ``serve_forever()`` from the calling one;
    ``stop()`` (or leaving a ``with`` block) ends serving and closes the database.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str = ":memory:",
        api_key: str | None = None,
        delay_ms: float = 0,
        verbose: bool = False,
    ) -> None:
        self._httpd = _listen(host, port)
        try:
            self._store = Store(db)
        except BaseException:
            self._httpd.server_close()
            raise
        self._state = State(self._store, api_key=api_key, delay_ms=delay_ms, verbose=verbose)
        self._httpd.state = self._state
        self._state.own_url = self.url
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopped = False

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8765``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{_address(str(host), int(port))}"

    def start(self) -> LocalServer:
        """Serve from a background daemon thread; returns self."""
        self._begin_serving()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(_POLL_INTERVAL,),
            name="sentrial-local-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from the calling thread until ``stop()`` is called from another one (or an exception,
        such as KeyboardInterrupt, ends it)."""
        self._begin_serving()
        self._httpd.serve_forever(_POLL_INTERVAL)

    def _begin_serving(self) -> None:
        with self._lock:
            if self._stopped:
                raise RuntimeError("the server was stopped")
            if self._serving:
                raise RuntimeError("the server is already serving")
            self._serving = True

    def stop(self) -> None:
        """Stop serving, close open connections and the database (``sessions()`` and ``session()`` then
        raise RuntimeError; ``requests`` still answers). Calling it again does nothing."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            serving = self._serving
        self._state.close_relay(_STOP_TIMEOUT if serving else 0)  # it sends to this server: first
        if serving:
            # Returns at once when serve_forever already ended, e.g. through KeyboardInterrupt.
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join()
        self._httpd.server_close()
        self._httpd.close_connections(_STOP_TIMEOUT)
        self._store.close()

    def __enter__(self) -> LocalServer:
        """Start serving unless already started."""
        with self._lock:
            serving = self._serving
        return self if serving else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the server."""
        self.stop()

    def sessions(self) -> list[dict[str, Any]]:
        """Every stored session, in creation order."""
        return self._store.sessions()

    def session(self, session_id: str) -> dict[str, Any] | None:
        """One session with its ``events`` in arrival order, or None."""
        return self._store.session(session_id)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The received requests (``method``, ``path``, ``headers``, ``json``), oldest first; a snapshot
        of the last 10,000."""
        return self._state.requests()

    def set_pii_config(self, config: dict[str, Any] | None) -> None:
        """What GET /api/sdk/pii-config answers: ``{"config": config}``, or ``{}`` for None."""
        self._state.pii_config = config

    def set_delay(self, ms: float) -> None:
        """Delay every answer from now on by ``ms`` milliseconds."""
        self._state.delay_ms = ms

    def inject_faults(
        self,
        status: int = 503,
        count: int | None = 2,
        headers: dict[str, str] | None = None,
        body: bytes | str | dict[str, Any] | None = None,
        paths: list[str] | tuple[str, ...] | None = None,
    ) -> None:
        """Answer the next ``count`` requests (None: all until cleared) whose path starts with one of
        ``paths`` (None: any path) with ``status``, ``headers`` and ``body`` instead of processing them.

        ``headers`` None sends ``Retry-After: 1`` (pass ``{}`` for no extra header). ``body`` None
        sends a JSON error object; bytes go out as they are (e.g. garbage). Faults queue up: a request
        uses the first queued fault that applies to it.
        """
        if headers is None:
            headers = {"Retry-After": "1"}
        self._state.add_fault(status, count, headers, body, paths)

    def clear_faults(self) -> None:
        """Drop every injected fault."""
        self._state.clear_faults()
