"""Sentrial: observability for AI agents, on OpenTelemetry.

import sentrial
sentrial.configure(api_key="sentrial_live_xxx")
interaction = sentrial.begin(user_id="user_123", event="chat_message", input="Hi")
interaction.finish(output="Hello!", success=True)
"""

from sentrial._config import BatcherConfig
from sentrial.api import begin, configure, flush, get_client, shutdown
from sentrial.client import DeliveryError, Interaction, SentrialClient
from sentrial.wrappers import wrap_anthropic, wrap_google, wrap_llm, wrap_openai

__all__ = [
    "BatcherConfig",
    "DeliveryError",
    "Interaction",
    "SentrialClient",
    "begin",
    "configure",
    "flush",
    "get_client",
    "shutdown",
    "wrap_anthropic",
    "wrap_google",
    "wrap_llm",
    "wrap_openai",
]
__version__ = "0.1.0"
