"""What the published integrations' faces share: the context in which a session given by its id
is current, and the client of a client-or-async-client argument."""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import context as otel_context

from sentrial.api import get_client
from sentrial.client import SentrialClient
from sentrial.tracing import SessionRoute, with_route

logger = logging.getLogger("sentrial")


def sync_client(client: Any, argument: str = "client") -> SentrialClient:
    """The :class:`SentrialClient` behind ``client`` (itself, or an ``AsyncSentrialClient``'s).
    Anything else is logged and the default client (``sentrial.configure()``'s) is used instead:
    the integration records somewhere rather than break the app's framework run."""
    if isinstance(client, SentrialClient):
        return client
    inner = getattr(client, "sync_client", None)
    if isinstance(inner, SentrialClient):
        return inner
    logger.error(
        "sentrial: %s must be a SentrialClient or an AsyncSentrialClient, not %s; the default client"
        " is used instead",
        argument,
        type(client).__name__,
    )
    return get_client()


def session_context(client: SentrialClient, session_id: str) -> otel_context.Context:
    """A context (from the current one) in which ``session_id`` is the current session of
    ``client``: the session's own context while this client has it open (spans made in it nest
    under the session's span), else one that routes to the id as it is (a session opened elsewhere)."""
    open_session = client._sessions.get(session_id)
    if open_session is not None:
        return open_session.context
    return with_route(SessionRoute(session_id, client.delivery))
