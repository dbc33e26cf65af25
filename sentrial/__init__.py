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
from sentrial.wrappers import wrap_anthropic, wrap_google, wrap_llm, wrap_openai

__all__ = [
    "AsyncInteraction",
    "AsyncSentrialClient",
    "BatcherConfig",
    "DeliveryError",
    "Experiment",
    "ExperimentContext",
    "ExperimentRunResult",
    "ExperimentRunTracker",
    "ExperimentTestCase",
    "ExperimentVariant",
    "Interaction",
    "SentrialClient",
    "SessionContext",
    "begin",
    "begin_async",
    "bind_context",
    "configure",
    "flush",
    "get_client",
    "get_current_interaction",
    "get_current_session_id",
    "get_experiment_context",
    "get_system_prompt",
    "get_variant_name",
    "is_experiment_mode",
    "session",
    "shutdown",
    "shutdown_on_signal",
    "tool",
    "wrap_anthropic",
    "wrap_google",
    "wrap_llm",
    "wrap_openai",
]
__version__ = VERSION
