"""Sentrial: observability for AI agents, on OpenTelemetry.

import sentrial
sentrial.configure(api_key="sentrial_live_xxx")
interaction = sentrial.begin(user_id="user_123", event="chat_message", input="Hi")
interaction.finish(output="Hello!", success=True)
"""

from sentrial._config import BatcherConfig
from sentrial._exit_signals import shutdown_on_signal
from sentrial._version import VERSION
from sentrial.aio import AsyncInteraction, AsyncSentrialClient, begin_async
from sentrial.api import begin, configure, flush, get_client, shutdown
from sentrial.async_client import configure_async
from sentrial.batcher import EventBatcher
from sentrial.client import DeliveryError, Interaction, SentrialClient
from sentrial.context import (
    ExperimentContext,
    get_experiment_context,
    get_system_prompt,
    get_variant_name,
    is_experiment_mode,
)
from sentrial.decorators import (
    SessionContext,
    bind_context,
    get_current_interaction,
    get_current_session_id,
    get_session_entry_points,
    session,
    tool,
)
from sentrial.experiment import (
    Experiment,
    ExperimentRunResult,
    ExperimentRunTracker,
    ExperimentTestCase,
    ExperimentVariant,
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
    "Experiment",
    "ExperimentContext",
    "ExperimentRunResult",
    "ExperimentRunTracker",
    "ExperimentTestCase",
    "ExperimentVariant",
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
    "get_experiment_context",
    "get_session_context",
    "get_session_entry_points",
    "get_system_prompt",
    "get_variant_name",
    "is_experiment_mode",
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
__version__ = VERSION

# The published package's integrations at the top level too, imported when first asked for (none
# imports its framework before it is used). A name whose framework is missing is absent, as there.
_INTEGRATIONS = {
    "LANGCHAIN_MAJOR_VERSION": "sentrial.langchain",
    "LANGCHAIN_VERSION": "sentrial.langchain",
    "LangfuseIntegration": "sentrial.langfuse_integration",
    "LangfuseTraceContext": "sentrial.langfuse_integration",
    "SentrialAutogenHandler": "sentrial.autogen",
    "SentrialCallbackHandler": "sentrial.langchain",
    "SentrialCrewHandler": "sentrial.crewai",
    "TrackedClaudeClient": "sentrial.claude_code",
    "create_agent_with_sentrial": "sentrial.langchain",
    "get_agent_executor": "sentrial.langchain",
    "get_openai_tools_agent_creator": "sentrial.langchain",
    "get_react_agent": "sentrial.langchain",
    "track_crew": "sentrial.crewai",
    "wrap_claude_agent": "sentrial.claude_code",
    "wrap_claude_client": "sentrial.claude_code",
}


def __getattr__(name: str) -> object:
    module_name = _INTEGRATIONS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'sentrial' has no attribute {name!r}")
    import importlib

    try:
        value: object = getattr(importlib.import_module(module_name), name)
    except ImportError as error:  # its framework is not installed
        raise AttributeError(f"sentrial.{name} is not available: {error}") from error
    globals()[name] = value
    return value
