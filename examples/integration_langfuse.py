"""Langfuse beside Sentrial: a trace of its own, sent over OTLP to Langfuse, redacted the same way.

Needs ``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY`` and ``LANGFUSE_HOST`` (no langfuse package).
"""

from sentrial.langfuse_integration import LangfuseIntegration, LangfuseTraceContext

langfuse = LangfuseIntegration()  # the LANGFUSE_* variables
trace = LangfuseTraceContext(
    langfuse, session_id="session-1", name="support", user_id="user_123", input_data="Hi"
)
trace.track_tool_call("lookup_order", {"order": 7}, {"status": "shipped"})
trace.track_llm_call(
    "answer", model="gpt-4o", input_data="Hi", output_data="Hello!", prompt_tokens=12, completion_tokens=5
)
trace.finish(output="Hello!", success=True, custom_metrics={"satisfaction": 4.5})
langfuse.shutdown()
print("sent to", langfuse.endpoint)
