"""Langfuse beside Sentrial, over OpenTelemetry: a client that writes every span to both (redacted
once), and a trace written to Langfuse only.

Needs ``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY`` and ``LANGFUSE_HOST`` (no langfuse package),
and sends to ``SENTRIAL_API_URL`` (``sentrial serve`` runs a local server).
"""

from sentrial import SentrialClient
from sentrial.langfuse_integration import LangfuseIntegration, LangfuseTraceContext

langfuse = LangfuseIntegration()  # the LANGFUSE_* variables

# Every span of this client goes to Sentrial and to Langfuse.
client = SentrialClient(langfuse=langfuse)  # SENTRIAL_API_KEY and SENTRIAL_API_URL
session_id = client.create_session(name="Order question", agent_name="support", user_id="user_123")
client.track_tool_call(session_id, "lookup_order", {"order": 7}, {"status": "shipped"})
client.complete_session(session_id, success=True, user_input="Where is order 7?", assistant_output="Shipped.")
client.shutdown()

# A trace in Langfuse only.
trace = LangfuseTraceContext(langfuse, session_id=session_id, name="support-review", user_id="user_123")
trace.track_llm_call(
    "review", model="gpt-4o", input_data="Shipped.", output_data="OK", prompt_tokens=12, completion_tokens=5
)
trace.finish(output="OK", success=True, custom_metrics={"satisfaction": 4.5})
langfuse.shutdown()
print("sent to", langfuse.endpoint)
