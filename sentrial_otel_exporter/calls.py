"""A Sessions API call and its wire form: encoded once when queued, the server's ids put in when sent.

The SDK names its sessions itself; the server may answer a session's opening with an id of its own.
A call's body is encoded as it is queued, before that answer can be known, so the fields that hold
session ids are kept apart from the encoded rest and filled in with the server's ids at send time.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

logger = logging.getLogger("sentrial")

# Body fields that hold the SDK's session ids; they are swapped for the server's ids when sent.
_SESSION_ID_FIELDS = ("sessionId", "parentSessionId", "resultSessionId")
# What a queued call holds besides its encoded body (the call object, its path and ids), roughly.
_CALL_OVERHEAD_BYTES = 512


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
    # Set by the transport when it queues the call: ``body`` then keeps only its session id fields,
    # and the rest of it waits encoded in ``encoded`` (None for a call without a body).
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

    def resolve(self, session_id: str) -> str:
        """The server's id of session ``session_id`` (the id itself when the server kept it)."""
        with self._lock:
            return self._ids.get(session_id, session_id)

    def after_fork(self) -> None:
        """In a forked child: keep what was learnt, with a lock no parent thread can be holding."""
        self._lock = threading.Lock()


def encode(call: ApiCall) -> str | None:
    """Encode the call's body for the wire, once, as it is queued: the session id fields stay in
    ``body`` (the server's ids are only known at send time), the rest goes to ``encoded``; sets
    ``size``. Returns why the body cannot be sent, or None."""
    body, call.body = call.body, None
    call.encoded = None
    if body is not None:
        ids = {k: body[k] for k in _SESSION_ID_FIELDS if k in body}
        rest = {k: v for k, v in body.items() if k not in ids} if ids else body
        try:
            call.encoded = json.dumps(rest, allow_nan=False).encode()
        except Exception as exc:  # NaN, an object JSON cannot encode: this call only is dropped
            logger.debug("sentrial: could not encode %s %s", call.method, call.path, exc_info=True)
            return f"{type(exc).__name__} while encoding {call.method} {call.path}"
        call.body = ids or None
    call.size = _CALL_OVERHEAD_BYTES + (len(call.encoded) if call.encoded is not None else 0)
    return None


def wire_request(call: ApiCall, ids: IdTable) -> tuple[str, bytes | None]:
    """The path and body to send ``call`` with, its session ids swapped for the server's."""
    path = call.path.format(session=quote(ids.resolve(call.session), safe=""))
    data = call.encoded
    if call.body:  # the session id fields, swapped for the server's ids
        fields = {k: ids.resolve(v) if v else v for k, v in call.body.items()}
        data = _with_fields(data, fields)
    return path, data


def _with_fields(encoded: bytes | None, fields: dict[str, Any]) -> bytes:
    """An encoded JSON object with ``fields`` added in front of its own."""
    head = json.dumps(fields).encode()
    if encoded is None or encoded == b"{}":
        return head
    return head[:-1] + b", " + encoded[1:]
