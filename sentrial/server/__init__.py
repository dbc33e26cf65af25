"""A local Sentrial Sessions API server (standard library only), for development, tests and demos.

It implements the contract of ``sessions-api.md``:

- ``POST /api/sdk/sessions`` opens a session and answers it as stored (``200`` always). An ``id`` in
  the body is used as the session's id; opening the same id again answers the existing session
  unchanged. A new session has ``status`` ``"active"`` until it is completed.
- ``POST /api/sdk/events`` stores one event exactly as sent and answers it with the server's ``id``
  and ``receivedAt`` (``200``). An event whose ``spanId`` the session already has is not stored
  again: the earlier event is answered (clients retry POSTs).
- ``PATCH /api/sdk/sessions/{id}`` completes a session with the fields given and answers it.
- ``GET /api/sdk/pii-config`` answers ``{"config": ...}`` once set, ``{}`` before.

Beyond the hosted contract, for reading back what was recorded:

- ``GET /api/sdk/sessions`` answers ``{"sessions": [...], "total", "nextOffset", "totals"}``: every
  session in creation order, each with its ``eventCount``, or those that ``status``, ``agent``,
  ``user``, ``since``, ``until``, ``q`` (text in names, inputs, outputs), ``convo`` select, sorted by
  ``sort`` (created, cost, duration, tokens) and ``order``, paged by ``limit`` and ``offset``; the
  totals (sessions, failed, failureRate, estimatedCost, totalTokens) are over all selected
  (``sentrial.server.queries``). A wrong parameter is 422 naming it.
- ``GET /api/sdk/sessions/{id}`` answers one session with its ``events`` in arrival order.
- ``GET /`` (the list, same parameters), ``GET /sessions/{id}`` (a session's tree and details),
  ``GET /conversations/{convoId}``, ``GET /live/sessions`` (what the list's script polls) and
  ``GET /live/sessions/{id}?version=V`` (what a running session's page polls: the parts that changed
  since V): HTML pages, under a Content-Security-Policy that runs only the script and style under
  ``/static/``. When the server has an API key they need it too, as the same ``Authorization``
  header or through a sign-in form that POSTs the key and sets an HttpOnly cookie (see
  ``sentrial.server.auth``).

Errors are JSON ``{"error": message}``: 400 malformed or non-object body, 401 missing or wrong
``Authorization: Bearer <key>`` on ``/api/sdk/*`` when the server has a key, 404 unknown session or
path, 405 wrong method (with ``Allow``), 411 chunked body, 413 body over 32 MiB, 422 a field missing
or of the wrong type (the message names it), or a session ``id`` longer than the client ever sends
(``MAX_SESSION_ID_CHARS``, 1024: a longer one would not fit in its GET/PATCH URL).

Run it with ``sentrial serve`` or from Python::

    with LocalServer() as srv:
        ...  # point a client at srv.url, then inspect srv.sessions(), srv.session(id), srv.requests
"""

from sentrial.server.local import ListenError, LocalServer

__all__ = ["ListenError", "LocalServer"]
