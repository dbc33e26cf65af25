"""A Sessions API call and its wire form: encoded once when queued, the server's ids put in when sent.

The SDK names its sessions itself; the server may answer a session's opening with an id of its own.
A call's body is encoded as it is queued, before that answer can be known, so the fields that hold
session ids are kept as well: when the server named a session otherwise, they are put in at send
time (the server of the project keeps the SDK's ids, so its calls go out as encoded).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import quote

logger = logging.getLogger("sentrial")

# Body fields that hold the SDK's session ids; they are swapped for the server's ids when sent.
_SESSION_ID_FIELDS = ("sessionId", "parentSessionId", "resultSessionId")
# What a queued call holds besides its encoded body (the call object, its path and ids), roughly.
_CALL_OVERHEAD_BYTES = 512
# One encoder for every body (json.dumps with an option builds a new one per call).
_ENCODER = json.JSONEncoder(allow_nan=False)
# Its C part, called directly: JSONEncoder.encode builds it anew for every body, with a check for
# circular references that bodies made from attributes (text, numbers, decoded JSON) cannot need
# (one would end in a RecursionError, and the call be dropped as not encodable).
_ENCODE_CHUNKS = (
    None
    if c_make_encoder is None
    else c_make_encoder(
        None, _ENCODER.default, encode_basestring_ascii, None, ": ", ", ", False, False, False
    )
)


def to_json(body: Any) -> bytes:
    """``body`` as the JSON bytes sent: what ``_ENCODER.encode`` gives, for less work; a float JSON
    has no number for (NaN, an infinity) is written as text ("nan", "inf", "-inf"), as the SDK
    writes it in the values it records, rather than lose the whole call."""
    try:
        return _encoded(body)
    except ValueError:  # the encoder's refusal of such a float: only then is the body walked
        return _encoded(_finite(body))


def _encoded(body: Any) -> bytes:
    if _ENCODE_CHUNKS is None:
        return _ENCODER.encode(body).encode()
    return "".join(_ENCODE_CHUNKS(body, 0)).encode()


def _finite(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by its text (a copy where one is)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {key: _finite(each) for key, each in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(each) for each in value]
    return value


@dataclass
class ApiCall:
    """One request to the Sessions API.

    ``path`` may contain ``{session}``, replaced at send time by the server's id of ``session``.
    """

    method: str
    path: str
    body: dict[str, Any] | None
    session: str
    lane: str
    opens_session: bool = False
    # The session is opened by another process or service, whose open may reach the server later
    # than this call: a 404 then means "not there yet" and is retried within the retry time.
    session_opened_elsewhere: bool = False
    # Where the answer to an opening holds the server's id: at its top ("id"), or, when this names
    # a key, under it (an experiment run's answer is {"run": {"id": ...}}).
    answer_id_under: str | None = None
    # Members of the body already encoded ('"name": <JSON>'), added to it when it is encoded (a
    # session's state, see :mod:`sentrial_otel_exporter.state`); not in ``body``.
    spliced: list[bytes] | None = None
    # Set by the transport when it queues the call: the body waits encoded in ``encoded`` (None for
    # a call without one), and ``body`` keeps only its session id fields.
    encoded: bytes | None = None
    size: int = 0  # bytes the queued call holds, as counted against the byte budget
    attempts: int = 0
    queued_at: float = 0.0
    deadline: float = 0.0


class IdTable:
    """The server's id for each session whose id the server changed; bounded, oldest forgotten."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, local_id: str, server_id: str) -> None:
        """Note that the server knows session ``local_id`` as ``server_id``."""
        with self._lock:
            self._ids[local_id] = server_id
            if len(self._ids) > self._capacity:
                self._ids.popitem(last=False)

    def __bool__(self) -> bool:
        """Whether the server changed any session's id so far (read without the lock)."""
        return bool(self._ids)

    def resolve(self, session_id: str) -> str:
        """The server's id of session ``session_id`` (the id itself when the server kept it)."""
        if not self._ids:  # the server kept every id so far: the common case, without the lock
            return session_id
        with self._lock:
            return self._ids.get(session_id, session_id)

    def after_fork(self) -> None:
        """In a forked child: keep what was learnt, with a lock no parent thread can be holding."""
        self._lock = threading.Lock()


def encode(call: ApiCall) -> str | None:
    """Encode the call's body for the wire, once, as it is queued, into ``encoded``; ``body`` then
    keeps only the session id fields (the server's ids are only known at send time); sets ``size``.
    Returns why the body cannot be sent, or None."""
    body, call.body = call.body, None
    call.encoded = None
    if body is not None:
        try:
            call.encoded = to_json(body)
            if call.spliced:  # the body always has members of its own (its session at least)
                call.encoded = b"%s, %s}" % (call.encoded[:-1], b", ".join(call.spliced))
                call.spliced = None
        except Exception as exc:  # an object JSON cannot encode: this call only is dropped
            logger.debug("sentrial: could not encode %s %s", call.method, call.path, exc_info=True)
            return f"{type(exc).__name__} while encoding {call.method} {call.path}"
        call.body = {k: body[k] for k in _SESSION_ID_FIELDS if k in body} or None
    call.size = _CALL_OVERHEAD_BYTES + (len(call.encoded) if call.encoded is not None else 0)
    return None


def wire_request(call: ApiCall, ids: IdTable) -> tuple[str, bytes | None]:
    """The path and body to send ``call`` with, its session ids swapped for the server's."""
    path = call.path
    if "{session}" in path:
        path = path.format(session=quote(ids.resolve(call.session), safe=""))
    data = call.encoded
    if ids and call.body and data is not None:  # ids: the server named some session otherwise
        fields = {k: ids.resolve(v) if v else v for k, v in call.body.items()}
        if fields != call.body:  # the server named a session otherwise: the body says so too
            data = _with_fields(data, fields)
    return path, data


def _with_fields(encoded: bytes, fields: dict[str, Any]) -> bytes:
    """An encoded JSON object with ``fields`` set in it."""
    body = json.loads(encoded)
    body.update(fields)
    return to_json(body)
