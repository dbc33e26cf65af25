"""OTLP/HTTP trace requests in (protobuf or JSON, gzip or not) and their answers out.

Decoding uses the ``opentelemetry-proto`` messages; each received span becomes an SDK
``ReadableSpan``, so the exporter maps it exactly as it maps a span of this process.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# OTLP's span flags: bit 8 says whether bit 9 (the parent is remote) is known.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_STATUS_CODES = {
    ProtoStatus.STATUS_CODE_OK: StatusCode.OK,
    ProtoStatus.STATUS_CODE_ERROR: StatusCode.ERROR,
}
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class OtlpError(ValueError):
    """A request that is not OTLP: the message says why (it is sent back with a 400)."""


@dataclass
class Decoded:
    """The spans of one request, and those that could not be taken (OTLP's partial success)."""

    spans: list[ReadableSpan] = field(default_factory=list)
    rejected: int = 0
    reason: str = ""


def media_type(content_type: str | None) -> str:
    """The request's format: PROTOBUF or JSON; OtlpError for any other."""
    kind = (content_type or PROTOBUF).split(";")[0].strip().lower()
    if kind in (PROTOBUF, JSON):
        return kind
    raise OtlpError(f"unsupported Content-Type {kind!r}: send {PROTOBUF} or {JSON}")


def unpacked(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body without its gzip (or deflate) encoding, at most ``limit`` bytes; OtlpError otherwise."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise OtlpError(f"unsupported Content-Encoding {encoding!r}: send gzip or none")
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        data = inflater.decompress(body, limit)
    except zlib.error as exc:
        raise OtlpError(f"the {encoding} body cannot be decompressed: {exc}") from None
    if inflater.unconsumed_tail:
        raise OtlpError(f"the decompressed body is larger than {limit} bytes")
    return data


def decode(body: bytes, kind: str) -> Decoded:
    """The spans of an ExportTraceServiceRequest; OtlpError when the body is not one."""
    request = ExportTraceServiceRequest()
    try:
        if kind == PROTOBUF:
            request.ParseFromString(body)
        else:
            # OTLP/JSON receivers ignore fields they do not know (a newer sender's).
            json_format.ParseDict(_ids_as_base64(json.loads(body)), request, ignore_unknown_fields=True)
    except (DecodeError, ValueError, json_format.ParseError, RecursionError, TypeError) as exc:
        raise OtlpError(f"malformed OTLP {'protobuf' if kind == PROTOBUF else 'JSON'}: {exc}") from None
    decoded = Decoded()
    for resource_spans in request.resource_spans:
        resource = Resource(_attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope = InstrumentationScope(scope_spans.scope.name, scope_spans.scope.version or None)
            for span in scope_spans.spans:
                problem = _invalid(span)
                if problem:
                    decoded.rejected += 1
                    decoded.reason = decoded.reason or problem
                    continue
                decoded.spans.append(_readable(span, resource, scope))
    return decoded


def answer(kind: str, rejected: int = 0, reason: str = "") -> bytes:
    """The ExportTraceServiceResponse body, with a partial success when spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = reason
    if kind == PROTOBUF:
        encoded: bytes = response.SerializeToString()
        return encoded
    return str(json_format.MessageToJson(response, indent=None)).encode()


def error_body(kind: str, code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` body, as OTLP/HTTP sends with an error status."""
    if kind == PROTOBUF:
        from google.rpc import status_pb2

        encoded: bytes = status_pb2.Status(code=code, message=message).SerializeToString()
        return encoded
    return json.dumps({"code": code, "message": message}).encode()


# --- from OTLP messages to SDK spans -----------------------------------------------------------
def _ids_as_base64(value: Any) -> Any:
    """OTLP/JSON writes ids in hex where protobuf's JSON mapping reads bytes as base64."""
    if isinstance(value, list):
        return [_ids_as_base64(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {}
    for key, item in value.items():
        if key in _ID_FIELDS and isinstance(item, str):
            try:
                item = base64.b64encode(bytes.fromhex(item)).decode()
            except ValueError:
                raise OtlpError(f"{key} {item[:40]!r} is not hex") from None
        converted[key] = _ids_as_base64(item)
    return converted


def _invalid(span: ProtoSpan) -> str:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return f"span {span.name!r} has no valid trace id (16 bytes, not all zero)"
    if len(span.span_id) != 8 or not any(span.span_id):
        return f"span {span.name!r} has no valid span id (8 bytes, not all zero)"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"span {span.name!r} has a parent span id that is not 8 bytes"
    return ""


def _readable(span: ProtoSpan, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    trace_id = int.from_bytes(span.trace_id, "big")
    context = SpanContext(trace_id, int.from_bytes(span.span_id, "big"), False, TraceFlags(0x01))
    parent = None
    if span.parent_span_id:
        remote = bool(span.flags & _HAS_IS_REMOTE) and bool(span.flags & _IS_REMOTE)
        parent = SpanContext(trace_id, int.from_bytes(span.parent_span_id, "big"), remote)
    code = _STATUS_CODES.get(span.status.code, StatusCode.UNSET)
    status = Status(code, span.status.message or None) if code == StatusCode.ERROR else Status(code)
    events = [Event(e.name, _attributes(e.attributes), e.time_unix_nano) for e in span.events]
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=_attributes(span.attributes),
        events=events,
        kind=SpanKind(max(0, span.kind - 1)) if 0 < span.kind <= 5 else SpanKind.INTERNAL,
        status=status,
        start_time=span.start_time_unix_nano or None,
        end_time=span.end_time_unix_nano or None,
        instrumentation_scope=scope,
    )


def _attributes(pairs: Iterator[KeyValue] | Any) -> dict[str, Any]:
    values = {}
    for pair in pairs:
        value = _value(pair.value)
        if value is not None:
            values[pair.key] = value
    return values


def _value(value: AnyValue) -> Any:
    """An OTLP value as an attribute value; lists of mixed or nested values and maps become JSON text."""
    which = value.WhichOneof("value")
    if which in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(value, which)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if which == "array_value":
        items = [_value(item) for item in value.array_value.values]
        kinds = {type(item) for item in items}
        if len(kinds) <= 1 and kinds <= {str, bool, int, float}:
            return tuple(items)
        return json.dumps([_plain(item) for item in value.array_value.values], default=str)
    if which == "kvlist_value":
        return json.dumps(_plain(value), default=str)
    return None


def _plain(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_plain(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {pair.key: _plain(pair.value) for pair in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which) if which else None
