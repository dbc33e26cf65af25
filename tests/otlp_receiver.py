"""A minimal OTLP/HTTP trace receiver on 127.0.0.1, decoding what it gets with opentelemetry-proto."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class OtlpReceiver:
    """Collects the spans posted to ``{url}/v1/traces``; ``spans()`` lists them as dicts."""

    def __init__(self) -> None:
        self._spans: list[dict[str, Any]] = []
        self.posts: list[tuple[str, dict[str, str]]] = []  # (path, headers by lowercase name) of each request
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                with receiver._lock:
                    receiver.posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                receiver._add(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def _add(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    as_dict = MessageToDict(span)
                    as_dict["attributes"] = {
                        a["key"]: next(iter(a["value"].values()), None) for a in as_dict.get("attributes", [])
                    }
                    with self._lock:
                        self._spans.append(as_dict)

    def spans(self) -> list[dict[str, Any]]:
        """Every span received so far, attributes flattened to {key: value}."""
        with self._lock:
            return list(self._spans)

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
