"""Sentrial: observability for AI agents, on OpenTelemetry.

import sentrial
sentrial.configure(api_key="sentrial_live_xxx")
interaction = sentrial.begin(user_id="user_123", event="chat_message", input="Hi")
interaction.finish(output="Hello!", success=True)
"""

from sentrial._config import BatcherConfig
from sentrial._exit_signals import shutdown_on_signal
from sentrial.aio import AsyncInteraction, AsyncSentrialClient, begin_async
from sentrial.api import begin, configure, flush, get_client, shutdown
from sentrial.async_client import configure_async
from sentrial.batcher import EventBatcher
from sentrial.client import DeliveryError, Interaction, SentrialClient
from sentrial.decorators import (
    SessionContext,
    bind_context,
    get_current_interaction,
    get_current_session_id,
    get_session_entry_points,
    session,
    tool,
)
from sentrial.otel import SentrialSpanProcessor, setup_otel_tracing
from sentrial.types import EventType
from sentrial.wrappers import (
    clear_session_context,
    get_session_context,
    set_session_context,
    wrap_anthropic,
    wrap_google,
    wrap_llm,
    wrap_openai,
)

__all__ = [
    "AsyncInteraction",
    "AsyncSentrialClient",
    "BatcherConfig",
    "DeliveryError",
    "EventBatcher",
    "EventType",
    "Interaction",
    "SentrialClient",
    "SentrialSpanProcessor",
    "SessionContext",
    "begin",
    "begin_async",
    "bind_context",
    "clear_session_context",
    "configure",
    "configure_async",
    "flush",
    "get_client",
    "get_current_interaction",
    "get_current_session_id",
    "get_session_context",
    "get_session_entry_points",
    "session",
    "set_session_context",
    "setup_otel_tracing",
    "shutdown",
    "shutdown_on_signal",
    "tool",
    "wrap_anthropic",
    "wrap_google",
    "wrap_llm",
    "wrap_openai",
]
__version__ = "0.1.0"
