"""The module-level API: ``sentrial.configure()`` and the calls that use the default client."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sentrial._args import ArgumentChecker
from sentrial._config import BatcherConfig, disabled
from sentrial.client import Interaction, SentrialClient
from sentrial.instrumentation import instrument_when_imported
from sentrial.instrumentation._llm import set_capture_content
from sentrial.tracing import router_of
from sentrial_otel_exporter.forks import renew_in_child

logger = logging.getLogger("sentrial")

_default: SentrialClient | None = None
_lock = threading.Lock()
renew_in_child(globals(), "_lock")
_REPLACED_CLIENT_TIMEOUT = 5.0


# Twin by nature of SentrialClient.__init__: its five leading parameters, written out for IDEs.
def configure(
    api_key: str | None = None,
    api_url: str | None = None,
    fail_silently: bool = True,
    pii: Any = None,
    batching: bool | BatcherConfig | None = None,
    *,
    instrument: bool = True,
    capture_content: bool | None = None,
    **options: Any,
) -> SentrialClient:
    """Configure the default client; calling it again replaces the previous one (never stacks).

    ``instrument`` traces the LLM libraries (openai, anthropic, google-genai) as the app imports
    them; ``capture_content=False`` keeps LLM messages out of the spans (default: the
    ``SENTRIAL_CAPTURE_CONTENT`` / ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` variables,
    else on). Extra keyword options (``tracer_provider``, ``additional_exporters``, ``timeout``,
    ``retry_timeout``, ``max_value_chars``, ``max_queue_bytes``) are passed to :class:`SentrialClient`.
    """
    global _default
    check = ArgumentChecker("configure", strict=fail_silently is False)  # before a client exists
    instrument = check.flag("instrument", instrument)
    if capture_content is not None:
        capture_content = check.flag("capture_content", capture_content)
    with _lock:
        inherited = _inherited_setup(_default, options)
    client = SentrialClient(
        api_key=api_key,
        api_url=api_url,
        fail_silently=fail_silently,
        pii=pii,
        batching=batching,
        **{**inherited, **options},
    )
    client._distro_setup = bool(inherited)
    if capture_content is not None:
        set_capture_content(capture_content)
    if instrument and not disabled():
        # the provider the client took (a refused tracer_provider= is not handed on)
        provider = options.get("tracer_provider")
        instrument_when_imported(provider if provider is client._provider else None)
    with _lock:
        previous, _default = _default, client
        _make_default(client)
    if previous is not None:
        previous.delivery.keep_open(client.delivery.other_exporters)  # the new client feeds them now
        previous.shutdown(timeout=_REPLACED_CLIENT_TIMEOUT)
        _make_default(client)
    return client


def _inherited_setup(previous: SentrialClient | None, options: dict[str, Any]) -> dict[str, Any]:
    """What configure() takes over, unless told otherwise, from a default client that
    ``opentelemetry-instrument`` set up: its provider and the exporters OTEL_TRACES_EXPORTER named."""
    if previous is None or not previous._distro_setup:
        return {}
    inherited: dict[str, Any] = {}
    if "tracer_provider" not in options:
        inherited["tracer_provider"] = previous._provider
    if "additional_exporters" not in options:
        inherited["additional_exporters"] = previous.delivery.other_exporters
    return inherited


def _make_default(client: SentrialClient) -> None:
    """Spans outside every session go to this client from now on."""
    if client._provider is not None:
        router_of(client._provider).default = client.delivery


def get_client() -> SentrialClient:
    """The default client; made from the environment (``SENTRIAL_*``) when not configured."""
    global _default
    with _lock:
        if _default is None:
            _default = SentrialClient()
            _make_default(_default)
        return _default


def begin(
    user_id: str,
    event: str,
    input: str | None = None,
    event_id: str | None = None,
    convo_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Interaction:
    """Begin tracking an interaction on the default client."""
    # Written out rather than derived from SentrialClient.begin: a call its signature refuses raises
    # here, before a default client is made, where the method's guard would log it. The parameters
    # are held equal to the method's by tests/test_async_signatures.py.
    return get_client().begin(
        user_id=user_id, event=event, input=input, event_id=event_id, convo_id=convo_id, metadata=metadata
    )


def flush(timeout: float | None = 10.0) -> bool:
    """Deliver everything the default client recorded so far (at most ``timeout`` seconds)."""
    return _default.flush(timeout=timeout) if _default is not None else True


def shutdown(timeout: float | None = 10.0) -> bool:
    """Finish the default client: complete open sessions as failed, deliver, stop."""
    global _default
    with _lock:
        client, _default = _default, None
    return client.shutdown(timeout=timeout) if client is not None else True
