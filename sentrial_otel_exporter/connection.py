"""A kept-alive HTTP(S) connection to one server, on the standard library's ``http.client``.

The transport sends one request per event, so the client's CPU per request decides the delivery
rate on a small machine: ``http.client`` costs a fraction of a full-featured client. Proxies named
by the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) are honoured.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Raised when a kept-alive connection turned out to be closed by the server before the request.
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


@dataclass(frozen=True)
class Response:
    """A status, lower-cased headers and the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body)


class Connection:
    """One kept-alive connection (not thread-safe: one per thread); reconnects when it has to."""

    def __init__(self, base_url: str, timeout: float, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base_path = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = dict(headers)
        self._proxy = _proxy_for(parts.scheme, self._host)
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        target_host, target_port = self._proxy or (self._host, self._port)
        connection: http.client.HTTPConnection
        if self._https:
            connection = http.client.HTTPSConnection(
                target_host, target_port, timeout=self._timeout, context=ssl.create_default_context()
            )
            if self._proxy:
                connection.set_tunnel(self._host, self._port)
        else:
            connection = http.client.HTTPConnection(target_host, target_port, timeout=self._timeout)
        return connection

    def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        """Send one request and read the whole answer; OSError/HTTPException when the network fails."""
        url = self._base_path + path
        if self._proxy and not self._https:  # a plain-HTTP proxy takes the absolute URL
            url = f"http://{self._host}:{self._port}{url}"
        reused = self._connection is not None
        try:
            return self._send(method, url, body)
        except _STALE_CONNECTION:
            self.close()
            if not reused:
                raise
            return self._send(method, url, body)  # the server had closed the idle connection: once more
        except BaseException:
            self.close()
            raise

    def _send(self, method: str, url: str, body: bytes | None) -> Response:
        if self._connection is None:
            self._connection = self._connect()
        self._connection.request(method, url, body=body, headers=self._headers)
        answer = self._connection.getresponse()
        data = answer.read()
        headers = {name.lower(): value for name, value in answer.getheaders()}
        if answer.will_close:
            self.close()
        return Response(answer.status, headers, data)

    def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _proxy_for(scheme: str, host: str) -> tuple[str, int] | None:
    """(host, port) of the proxy the environment names for this scheme and host, if any."""
    if urllib.request.proxy_bypass(host):
        return None
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy:
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or 8080
